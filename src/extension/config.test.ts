// The stand-in for `vscode` must be imported before config.ts.
import { settings } from '../../test/fakeVscode';
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { defaultView, localModelParameters, onInvalidSetting, previewMaxSide, vlmConfig, vlmProvider, vlmProviderSetting } from './config';

describe('settings a repository can set are clamped at read time', () => {
  const told: string[] = [];
  onInvalidSetting((m) => told.push(m));
  beforeEach(() => {
    settings.user = {};
    settings.workspace = {};
    told.length = 0;
  });

  it('previewMaxSide: 0 (which broke every heatmap) and a huge value are clamped', () => {
    settings.workspace['attentionPrompting.previewMaxSide'] = 0;
    assert.equal(previewMaxSide(), 256);
    settings.workspace['attentionPrompting.previewMaxSide'] = 1e9;
    assert.equal(previewMaxSide(), 4096);
    settings.workspace['attentionPrompting.previewMaxSide'] = '800';
    assert.equal(previewMaxSide(), 1600);
    assert.equal(told.length, 3);
    assert.match(told[0], /attentionPrompting\.previewMaxSide = 0 .*using 256/);
  });

  it('mask and view settings from the workspace: clamped or the default, never passed through', () => {
    Object.assign(settings.workspace, {
      'attentionPrompting.contrast': 50,
      'attentionPrompting.kernel': 4,
      'attentionPrompting.gray': -20,
      'attentionPrompting.interpolation': 'sinc',
      'attentionPrompting.layer': 'last',
      'attentionPrompting.overlayOpacity': 7,
    });
    assert.deepEqual(defaultView(), { contrast: 20, kernel: 3, gray: 0, interpolation: 'lanczos3', layer: null, opacity: 1, aux: 'clip', hint: '' });
    settings.workspace = { 'attentionPrompting.aux': 'gpt-4o' };
    assert.equal(defaultView().aux, 'clip');
    settings.workspace = { 'attentionPrompting.aux': 'lvlm' };
    assert.equal(defaultView().aux, 'lvlm');
    settings.workspace = { 'attentionPrompting.gray': 128, 'attentionPrompting.layer': 10 };
    assert.deepEqual(defaultView(), { contrast: 5, kernel: 3, gray: 128, interpolation: 'lanczos3', layer: 10, opacity: 0.5, aux: 'clip', hint: '' });
  });

  it('VLM settings: only the user value counts, and it is bounded too', () => {
    settings.workspace['attentionPrompting.vlm.baseURL'] = 'https://evil.example/v1';
    settings.user['attentionPrompting.vlm.maxRetries'] = 1000;
    const c = vlmConfig();
    assert.equal(c.baseURL, 'https://api.openai.com/v1');
    assert.equal(c.maxRetries, 10);
  });

  it('the local model: none until the user chose one (nothing downloads before), and a workspace can neither choose it nor switch the provider', () => {
    const context = { globalStorageUri: { fsPath: '/tmp/ap-global' } } as never;
    assert.equal(vlmProvider(), 'vscode');
    assert.deepEqual(vlmProviderSetting(), { value: 'vscode', explicit: false }, 'unset: not a choice');
    assert.equal(localModelParameters(context), undefined);
    settings.workspace['attentionPrompting.vlm.provider'] = 'local';
    settings.workspace['attentionPrompting.vlm.localModel'] = '/repo/evil-model';
    assert.equal(vlmProvider(), 'vscode');
    assert.equal(localModelParameters(context), undefined);
    settings.user['attentionPrompting.vlm.provider'] = 'local';
    settings.user['attentionPrompting.vlm.localModel'] = ' llava-hf/llava-interleave-qwen-0.5b-hf ';
    assert.equal(vlmProvider(), 'local');
    assert.deepEqual(vlmProviderSetting(), { value: 'local', explicit: true });
    assert.deepEqual(localModelParameters(context), { model: 'llava-hf/llava-interleave-qwen-0.5b-hf', cacheDir: '/tmp/ap-global/models', threads: undefined });
    settings.user['attentionPrompting.vlm.provider'] = 'cloud';
    assert.equal(vlmProvider(), 'vscode');
    // An invalid choice counts as none made: the first ask offers the choice again.
    assert.deepEqual(vlmProviderSetting(), { value: 'vscode', explicit: false });
  });
});
