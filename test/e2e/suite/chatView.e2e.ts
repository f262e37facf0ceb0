/**
 * @attention and the mask tool driven through the workbench's real Chat view, as a user does it:
 * the fake `test` provider's models added with Chat: Manage Language Models, the mode and model
 * picked in the input's pickers, the question typed with `#file:` completed, and the rendered
 * response read from the chat list's DOM. Agent mode cannot run here: VS Code 1.106 answers an
 * agent-mode request with the Copilot sign-in dialog (its agent is Copilot Chat's), so that test
 * records the blocker (a screenshot in test-artifacts/e2e) and agent.e2e.ts keeps the tool's
 * invokeTool-level checks.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { fakeModels } from './fakeLanguageModels';
import { PHASE, clearNotifications, control, settled } from './helpers';

const MODE_PICKER = 0;
const MODEL_PICKER = 1;

interface ChatResponse {
  text: string;
  images: Array<{ loaded: boolean; width: number; alt: string }>;
  buttons: string[];
}

/** The latest response as rendered, once `ok` holds for it (or the last reading, for the assertion). */
const chatResponse = (ok: (r: ChatResponse) => boolean, timeoutMs = 60_000) => settled(() => control<ChatResponse>({ kind: 'chatResponse' }), ok, timeoutMs);

suite(`The Chat view (${PHASE} workspace)`, () => {
  suiteSetup(async () => {
    // A toast left by an earlier suite (the settings checks) sits over the chat input's pickers.
    await clearNotifications();
    await vscode.commands.executeCommand('workbench.action.chat.open');
    // The picker lists a provider's models only once the user adds them (the picker's own "Add
    // Language Models" opens the Copilot sign-in instead). The command waits on the quick pick: not awaited.
    void vscode.commands.executeCommand('workbench.action.chat.manageLanguageModels');
    await control({ kind: 'chatAddModels', provider: 'Test models (e2e)', models: ['Test Vision', 'Test Text Only'] });
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.chat.newChat');
    await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
  });

  test('@attention typed in the Chat view: overlay preview, region sentence, panel button and the streamed answer rendered', async () => {
    await control({ kind: 'chatChoose', picker: MODE_PICKER, item: 'Ask' });
    await control({ kind: 'chatChoose', picker: MODEL_PICKER, item: 'Test Vision' });
    const before = fakeModels.requests.length;
    await control({ kind: 'chatSend', text: '@attention where is the red box?', attach: 'red-box.png' });
    const trusted = PHASE === 'trusted';
    const done = trusted ? /You asked: where is the red box\?/ : /Restricted Mode: the image is not sent to Test Vision/;
    const r = await chatResponse((v) => done.test(v.text) && v.images.length > 0 && v.images.every((i) => i.loaded));
    await control({ kind: 'screenshot', name: 'chat-view-attention' });
    assert.match(r.text, done, r.text);
    // The overlay preview: a markdown image of a file the extension wrote, loaded by the workbench.
    const preview = r.images.find((i) => /^Heatmap of /.test(i.alt));
    assert.ok(preview?.loaded && preview.width > 0 && preview.width <= 512, JSON.stringify(r.images));
    assert.match(r.text, /x \d+–\d+, y \d+–\d+ \(\d+×\d+ px, [\d.]+% of the image\)/, r.text);
    assert.ok(r.buttons.includes('Open the Heatmap Panel'), JSON.stringify(r.buttons));
    const sent = fakeModels.requests.slice(before);
    if (!trusted) {
      assert.equal(sent.length, 0, 'Restricted Mode: nothing reached the model');
      return;
    }
    assert.match(r.text, /Test Vision on the masked image:/);
    assert.match(r.text, /Test Vision saw 1 image\(s\) \(image\/(png|jpeg) \d+ bytes\)\. You asked: where is the red box\?/);
    // The model the picker shows is the one the request went to, with the masked image.
    assert.equal(sent.length, 1, 'one request to the picked model');
    assert.equal(sent[0].model, 'test-vision');
    assert.equal(sent[0].parts.filter((p) => p.kind === 'data').length, 1, 'the masked image as an image part');
  });

  // In Restricted Mode no sign-in dialog shows: the agent request stays at "Working…" (seen in the
  // untrusted phase); the tool's own Restricted-Mode refusal is checked in agent.e2e.ts.
  if (PHASE === 'untrusted') return;

  test('agent mode: VS Code without Copilot answers a request with the sign-in dialog, and the tool is not run', async () => {
    await control({ kind: 'chatChoose', picker: MODE_PICKER, item: 'Agent' });
    const before = fakeModels.requests.length;
    await control({ kind: 'chatSend', text: 'where is the red box? use #maskImage', attach: 'red-box.png' });
    const dialog = await control<{ text: string }>({ kind: 'dialog', text: 'Sign in to use AI Features', screenshot: 'chat-view-agent-mode-blocker', click: 'Skip for now' });
    assert.match(dialog.text, /Continue with GitHub/);
    await vscode.commands.executeCommand('workbench.action.chat.cancel');
    assert.equal(fakeModels.requests.length, before, 'no request reached the picked model');
  });
});
