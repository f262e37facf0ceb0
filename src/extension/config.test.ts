// The stand-in for `vscode` must be imported before config.ts.
import { settings } from '../../test/fakeVscode';
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { defaultView, onInvalidSetting, previewMaxSide, vlmConfig } from './config';

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
    assert.deepEqual(defaultView(), { contrast: 20, kernel: 3, gray: 0, interpolation: 'lanczos3', layer: null, opacity: 1, hint: '' });
    settings.workspace = { 'attentionPrompting.gray': 128, 'attentionPrompting.layer': 10 };
    assert.deepEqual(defaultView(), { contrast: 5, kernel: 3, gray: 128, interpolation: 'lanczos3', layer: 10, opacity: 0.5, hint: '' });
  });

  it('VLM settings: only the user value counts, and it is bounded too', () => {
    settings.workspace['attentionPrompting.vlm.baseURL'] = 'https://evil.example/v1';
    settings.user['attentionPrompting.vlm.maxRetries'] = 1000;
    const c = vlmConfig();
    assert.equal(c.baseURL, 'https://api.openai.com/v1');
    assert.equal(c.maxRetries, 10);
  });
});
