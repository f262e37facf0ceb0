// The stand-in for `vscode` must be imported before config.ts.
import { settings } from '../../test/fakeVscode';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { ROOT } from '../../test/helpers';
import { chosenLocalModel, clipModelSetting, defaultView, localModelParameters, onInvalidSetting, previewMaxSide, vlmConfig, answerSourceKind, answerSourceSetting } from './config';

describe('settings a repository can set are clamped at read time', () => {
  const told: string[] = [];
  onInvalidSetting((m) => told.push(m));
  beforeEach(() => {
    settings.user = {};
    settings.workspace = {};
    told.length = 0;
  });

  it('previewMaxSide: 0 (which broke every heatmap) and a huge value are clamped', () => {
    settings.workspace['attentionPrompting.heatmap.previewMaxSide'] = 0;
    assert.equal(previewMaxSide(), 256);
    settings.workspace['attentionPrompting.heatmap.previewMaxSide'] = 1e9;
    assert.equal(previewMaxSide(), 4096);
    settings.workspace['attentionPrompting.heatmap.previewMaxSide'] = '800';
    assert.equal(previewMaxSide(), 1600);
    assert.equal(told.length, 3);
    assert.match(told[0], /attentionPrompting\.heatmap\.previewMaxSide = 0 .*using 256/);
  });

  it('mask and view settings from the workspace: clamped or the default, never passed through', () => {
    Object.assign(settings.workspace, {
      'attentionPrompting.heatmap.contrast': 50,
      'attentionPrompting.heatmap.smoothingKernel': 4,
      'attentionPrompting.heatmap.grayLevel': -20,
      'attentionPrompting.heatmap.maskInterpolation': 'sinc',
      'attentionPrompting.heatmap.layer': 'last',
      'attentionPrompting.heatmap.overlayOpacity': 7,
    });
    assert.deepEqual(defaultView(), { contrast: 20, kernel: 3, gray: 0, interpolation: 'lanczos3', layer: null, opacity: 1, aux: 'clip', hint: '' });
    settings.workspace = { 'attentionPrompting.heatmap.auxiliaryModel': 'gpt-4o' };
    assert.equal(defaultView().aux, 'clip');
    settings.workspace = { 'attentionPrompting.heatmap.auxiliaryModel': 'lvlm' };
    assert.equal(defaultView().aux, 'lvlm');
    settings.workspace = { 'attentionPrompting.heatmap.grayLevel': 128, 'attentionPrompting.heatmap.layer': 10 };
    assert.deepEqual(defaultView(), { contrast: 5, kernel: 3, gray: 128, interpolation: 'lanczos3', layer: 10, opacity: 0.5, aux: 'clip', hint: '' });
  });

  it('VLM settings: only the user value counts, and it is bounded too', () => {
    settings.workspace['attentionPrompting.answers.endpointURL'] = 'https://evil.example/v1';
    settings.user['attentionPrompting.answers.maxRetries'] = 1000;
    const c = vlmConfig();
    assert.equal(c.baseURL, 'https://api.openai.com/v1');
    assert.equal(c.maxRetries, 10);
  });

  it('the local model: none until the user chose one (nothing downloads before), and a workspace can neither choose it nor switch the provider', () => {
    const context = { globalStorageUri: { fsPath: '/tmp/ap-global' } } as never;
    assert.equal(answerSourceKind(), 'vscode');
    assert.deepEqual(answerSourceSetting(), { value: 'vscode', explicit: false }, 'unset: not a choice');
    assert.equal(localModelParameters(context), undefined);
    settings.workspace['attentionPrompting.answers.source'] = 'local';
    settings.workspace['attentionPrompting.localModel.model'] = '/repo/evil-model';
    assert.equal(answerSourceKind(), 'vscode');
    assert.equal(localModelParameters(context), undefined);
    settings.user['attentionPrompting.answers.source'] = 'local';
    settings.user['attentionPrompting.localModel.model'] = ' llava-hf/llava-interleave-qwen-0.5b-hf ';
    assert.equal(answerSourceKind(), 'local');
    assert.deepEqual(answerSourceSetting(), { value: 'local', explicit: true });
    assert.deepEqual(localModelParameters(context), { model: 'llava-hf/llava-interleave-qwen-0.5b-hf', cacheDir: '/tmp/ap-global/models', threads: undefined });
    settings.user['attentionPrompting.answers.source'] = 'cloud';
    assert.equal(answerSourceKind(), 'vscode');
    // An invalid choice counts as none made: the first ask offers the choice again.
    assert.deepEqual(answerSourceSetting(), { value: 'vscode', explicit: false });
  });
});

describe('settings go through one door', () => {
  beforeEach(() => {
    settings.user = {};
    settings.workspace = {};
  });

  it('the CLIP model: set in any layer counts as chosen (modelGuard never offers the default then); unset reads as the default, not chosen', () => {
    assert.deepEqual(clipModelSetting(), { effective: 'Xenova/clip-vit-large-patch14-336', explicitlySet: false });
    settings.workspace['attentionPrompting.clip.model'] = 'Xenova/clip-vit-base-patch16';
    assert.deepEqual(clipModelSetting(), { effective: 'Xenova/clip-vit-base-patch16', explicitlySet: true });
    settings.workspace = {};
    settings.user['attentionPrompting.clip.model'] = '  ';
    assert.equal(clipModelSetting().explicitlySet, false, 'blank is no choice');
  });

  it('the local model the pickers mark as current: the user value, trimmed; a workspace value never', () => {
    settings.workspace['attentionPrompting.localModel.model'] = '/repo/evil-model';
    assert.equal(chosenLocalModel(), undefined);
    settings.user['attentionPrompting.localModel.model'] = ' llava-hf/llava-interleave-qwen-0.5b-hf ';
    assert.equal(chosenLocalModel(), 'llava-hf/llava-interleave-qwen-0.5b-hf');
  });

  it('no file in src/extension but config.ts reads or writes a setting itself', () => {
    const dir = path.join(ROOT, 'src', 'extension');
    // getConfiguration is every read's way in; ConfigurationTarget every write's (update needs it).
    const bypasses = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && f !== 'config.ts' && !f.endsWith('.test.ts'))
      .flatMap((f) =>
        fs
          .readFileSync(path.join(dir, f), 'utf8')
          .split('\n')
          .flatMap((line, i) => (/getConfiguration\(|ConfigurationTarget/.test(line) ? [`${f}:${i + 1}: ${line.trim()}`] : [])),
      );
    assert.deepEqual(bypasses, [], 'read and write settings through config.ts (its readers bound every value; its writers go to the user settings)');
  });
});
