/**
 * Settings in a remote window (issue 9 item 1). Runs last, after the window reload: it changes the
 * model setting, which restarts the engine and drops the cached heatmaps.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PHASE, RED, clearNotifications, control, image, meanIn, quickPickItems, rgbOf, settled, testHooks, waitFor } from './helpers';

suite(`Settings in a remote window (${PHASE} workspace)`, () => {
  test('a machine setting that reads as its default never becomes a silent 1.7 GB download (issue 9.1)', async function () {
    // Only a remote window layers user settings this way (code-server is one; desktop is not).
    if (!vscode.env.remoteName) this.skip();
    const fs = await import('node:fs');
    const api = await testHooks();
    const config = () => vscode.workspace.getConfiguration('attentionPrompting');
    const chosen = config().get<string>('clip.model')!;
    assert.match(chosen, /planted-clip$/, 'the phase starts with the fixture model');
    // What happened on a busy machine: the model survives only in the local user settings, and
    // those are parsed again (here: a write to another user setting) after the extension's
    // configuration is registered; in a remote window the machine-scoped key is then dropped.
    await config().update('clip.model', undefined, vscode.ConfigurationTarget.Global); // the remote's copy
    const userSettings = path.join(process.env.E2E_USER_DATA!, 'User', 'settings.json');
    const local = JSON.parse(fs.readFileSync(userSettings, 'utf8'));
    fs.writeFileSync(userSettings, JSON.stringify({ ...local, 'attentionPrompting.clip.model': chosen }, null, 2));
    await config().update('answers.maxTokens', 300, vscode.ConfigurationTarget.Global);
    try {
      await waitFor('the model setting to read as its default', () => config().inspect<string>('clip.model')?.globalValue === undefined || undefined, 15_000);
      assert.equal(config().get('clip.model'), 'Xenova/clip-vit-large-patch14-336', 'the precondition of the bug: the choice reads as the default');
      await clearNotifications();
      await vscode.commands.executeCommand('attentionPrompting.openSample');
      const snap = await waitFor('the sample panel to refuse', () => api.panels().find((p) => p.imagePath.endsWith('shapes.png') && (p.error || p.images)));
      assert.match(snap.error?.message ?? `no error: heatmap from ${snap.summary?.model}`, /The setting attentionPrompting\.clip\.model reads as its default .* although you chose .*planted-clip\. Nothing was downloaded/);
      const toasts = await control<{ texts: string[] }>({ kind: 'notifications', waitFor: 'reads as its default' });
      assert.ok(toasts.texts.some((t) => /In a remote window/.test(t)), toasts.texts.join(' | '));
      await control({ kind: 'screenshot', name: 'model-setting-lost' });
    } finally {
      // Back to the phase's settings: the choice where a remote window reads it.
      await config().update('clip.model', chosen, vscode.ConfigurationTarget.Global);
      await config().update('answers.maxTokens', undefined, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    }
    assert.equal(config().get('clip.model'), chosen);
  });

  test('the Settings editor shows the extension in its five sections, without the renamed keys (issue 19)', async () => {
    // The Settings editor shows its table of contents (the sections) only when it is wide enough:
    // the side bars closed and its group maximised, put back afterwards.
    await vscode.commands.executeCommand('workbench.action.closeSidebar');
    await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
    await vscode.commands.executeCommand('workbench.action.openSettings', '@ext:attention-prompting.attention-prompting');
    await vscode.commands.executeCommand('workbench.action.toggleMaximizeEditorGroup');
    try {
      // In a remote window (as here) machine-scoped settings are the Remote tab's: Engine's are all
      // machine-scoped, so the User tab shows the other four sections and the Remote tab shows Engine.
      const read = (sections: string[]) =>
        settled(
          () => control<{ headings: string[] }>({ kind: 'settingsHeadings' }),
          (v) => sections.every((s) => v.headings.includes(s)),
        );
      const user = ['Heatmap', 'CLIP Model', 'Answers', 'Local Model'];
      const { headings } = await read(user);
      for (const s of user) assert.ok(headings.includes(s), `${s} in ${headings.join(' | ')}`);
      assert.ok(!headings.some((h) => /renamed/i.test(h)), headings.join(' | '));
      assert.deepEqual(headings.filter((h) => [...user, 'Engine'].includes(h)), user, 'in this order');
      await control({ kind: 'screenshot', name: 'settings-sections' });
      await control({ kind: 'settingsTab', label: 'Remote' });
      const remote = await read(['CLIP Model', 'Engine']);
      assert.ok(remote.headings.includes('Engine'), `Engine in ${remote.headings.join(' | ')}`);
      assert.ok(!remote.headings.some((h) => /renamed/i.test(h)), remote.headings.join(' | '));
      await control({ kind: 'screenshot', name: 'settings-sections-remote' });
    } finally {
      await vscode.commands.executeCommand('workbench.action.toggleMaximizeEditorGroup');
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      await vscode.commands.executeCommand('workbench.view.explorer');
    }
  });

  test('Choose CLIP Model… from the hub HF_ENDPOINT names: the dtypes with their download sizes; uint8 chosen, downloaded, heatmap from it (issue 11)', async function () {
    if (PHASE !== 'trusted') this.skip();
    this.timeout(180_000);
    const fs = await import('node:fs');
    const api = await testHooks();
    const config = () => vscode.workspace.getConfiguration('attentionPrompting');
    const before = { model: config().get<string>('clip.model')!, dtype: config().inspect<string>('clip.dtype')?.globalValue };
    const hubModel = process.env.E2E_HUB_MODEL!;
    // The hub serves the same files as the phase's fixture folder.
    const kB = (file: string) => `${Math.round(fs.statSync(path.join(before.model, 'onnx', file)).size / 1e3)} kB`;
    try {
      const picking = vscode.commands.executeCommand('attentionPrompting.chooseModel');
      const models = await quickPickItems((items) => items.some((t) => t.includes('Other hub id')));
      assert.ok(models.items.some((t) => t.includes('Xenova/clip-vit-large-patch14-336')), models.items.join(' | '));
      await control({ kind: 'quickPickSelect', label: 'Other hub id…' });
      await control({ kind: 'quickPickSelect', label: hubModel });
      const weights = await quickPickItems((items) => items.some((t) => /^uint8/.test(t)));
      // A row reads `<dtype>[current][downloaded] <size> in all (vision … + text …)`.
      const row = (dtype: string) => weights.items.find((t) => new RegExp(`^${dtype}(current|downloaded| )`).test(t));
      for (const dtype of ['fp32', 'fp16', 'q8', 'int8', 'uint8']) assert.ok(row(dtype), `${dtype} offered: ${weights.items.join(' | ')}`);
      assert.ok(!row('q4'), 'q4 is not offered: the fixture has no q4 text tower');
      assert.match(row('q8')!, new RegExp(`\\(vision ${kB('vision_model_quantized.onnx')} \\+ text 3\\.5 MB\\)`), 'sizes from the hub, in units that do not round to zero');
      // Not the phase's dtype (q8): the pick itself must change the setting.
      assert.notEqual(config().get('clip.dtype'), 'uint8');
      await control({ kind: 'quickPickSelect', label: 'uint8' });
      await picking;
      assert.equal(config().get('clip.model'), hubModel);
      assert.equal(config().get('clip.dtype'), 'uint8');

      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      // Earlier suites leave another view in the side bar; the right-click needs the Explorer.
      await vscode.commands.executeCommand('workbench.view.explorer');
      await control({ kind: 'explorerCommand', file: 'red-box.png', item: 'Show Heatmap…', type: 'where is the red box?' });
      const snap = await waitFor('the heatmap from the downloaded uint8 model', () => api.panels().find((p) => p.imagePath === image('red-box.png') && p.summary?.model === hubModel && (p.images || p.error)), 120_000);
      assert.equal(snap.error, undefined, JSON.stringify(snap.error));
      const masked = await rgbOf(snap.images!.masked);
      assert.ok(meanIn(masked, RED, 0, true) > 180, 'the uint8 planted model still keeps the red box');
      const cached = (fs.readdirSync(config().get<string>('engine.modelCacheDir')!, { recursive: true }) as string[]).map((f) => path.basename(f));
      assert.ok(cached.includes('vision_model_uint8.onnx') && cached.includes('text_model_uint8.onnx'), `uint8 files downloaded: ${cached.join(', ')}`);
      assert.ok(!cached.includes('vision_model.onnx'), 'the fp32 vision file is not downloaded');
      await control({ kind: 'screenshot', name: 'choose-model-uint8' });
    } finally {
      await config().update('clip.model', before.model, vscode.ConfigurationTarget.Global);
      await config().update('clip.dtype', before.dtype, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    }
  });
});
