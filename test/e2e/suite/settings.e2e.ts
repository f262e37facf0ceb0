/**
 * Settings in a remote window (issue 9 item 1). Runs last, after the window reload: it changes the
 * model setting, which restarts the engine and drops the cached heatmaps.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PHASE, clearNotifications, control, testHooks, waitFor } from './helpers';

suite(`Settings in a remote window (${PHASE} workspace)`, () => {
  test('a machine setting that reads as its default never becomes a silent 1.7 GB download (issue 9.1)', async function () {
    // Only a remote window layers user settings this way (code-server is one; desktop is not).
    if (!vscode.env.remoteName) this.skip();
    const fs = await import('node:fs');
    const api = await testHooks();
    const config = () => vscode.workspace.getConfiguration('attentionPrompting');
    const chosen = config().get<string>('model')!;
    assert.match(chosen, /planted-clip$/, 'the phase starts with the fixture model');
    // What happened on a busy machine: the model survives only in the local user settings, and
    // those are parsed again (here: a write to another user setting) after the extension's
    // configuration is registered; in a remote window the machine-scoped key is then dropped.
    await config().update('model', undefined, vscode.ConfigurationTarget.Global); // the remote's copy
    const userSettings = path.join(process.env.E2E_USER_DATA!, 'User', 'settings.json');
    const local = JSON.parse(fs.readFileSync(userSettings, 'utf8'));
    fs.writeFileSync(userSettings, JSON.stringify({ ...local, 'attentionPrompting.model': chosen }, null, 2));
    await config().update('vlm.maxTokens', 300, vscode.ConfigurationTarget.Global);
    try {
      await waitFor('the model setting to read as its default', () => config().inspect<string>('model')?.globalValue === undefined || undefined, 15_000);
      assert.equal(config().get('model'), 'Xenova/clip-vit-large-patch14-336', 'the precondition of the bug: the choice reads as the default');
      await clearNotifications();
      await vscode.commands.executeCommand('attentionPrompting.openSample');
      const snap = await waitFor('the sample panel to refuse', () => api.panels().find((p) => p.imagePath.endsWith('shapes.png') && (p.error || p.images)));
      assert.match(snap.error?.message ?? `no error: heatmap from ${snap.summary?.model}`, /reads as its default .* although you chose .*planted-clip\. Nothing was downloaded/);
      const toasts = await control<{ texts: string[] }>({ kind: 'notifications', waitFor: 'reads as its default' });
      assert.ok(toasts.texts.some((t) => /In a remote window/.test(t)), toasts.texts.join(' | '));
      await control({ kind: 'screenshot', name: 'model-setting-lost' });
    } finally {
      // Back to the phase's settings: the choice where a remote window reads it.
      await config().update('model', chosen, vscode.ConfigurationTarget.Global);
      await config().update('vlm.maxTokens', undefined, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    }
    assert.equal(config().get('model'), chosen);
  });
});
