/**
 * Chat and agent mode: the "mask an image for a question" tool through vscode.lm.invokeTool (as
 * agent mode calls it), and the @attention participant's handler with the fake `test` model as
 * `request.model` (the chat view itself needs GitHub Copilot, which this VS Code does not have).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { fakeModels } from './fakeLanguageModels';
import { PHASE, RED, image, meanIn, rgbOf, testHooks, waitFor } from './helpers';

const TOOL = 'attentionPrompting_maskImage';

/** Records what the participant streams. */
function recordingStream() {
  const parts: Array<{ kind: string; value: unknown }> = [];
  const stream = {
    markdown: (v: string | vscode.MarkdownString) => parts.push({ kind: 'markdown', value: typeof v === 'string' ? v : v.value }),
    progress: (v: string) => parts.push({ kind: 'progress', value: v }),
    button: (c: vscode.Command) => parts.push({ kind: 'button', value: c }),
    anchor: (v: unknown) => parts.push({ kind: 'anchor', value: v }),
    reference: (v: unknown) => parts.push({ kind: 'reference', value: v }),
    filetree: (v: unknown) => parts.push({ kind: 'filetree', value: v }),
    push: (v: unknown) => parts.push({ kind: 'push', value: v }),
  };
  const text = () => parts.filter((p) => p.kind === 'markdown').map((p) => p.value).join('');
  return { stream: stream as unknown as vscode.ChatResponseStream, parts, text };
}

async function testModel(id: string): Promise<vscode.LanguageModelChat> {
  return waitFor(`the fake model ${id}`, async () => (await vscode.lm.selectChatModels({ vendor: 'test', id }))[0], 15_000);
}

function chatRequest(prompt: string, model: vscode.LanguageModelChat, references: vscode.ChatPromptReference[], command?: string): vscode.ChatRequest {
  return { prompt, command, references, toolReferences: [], toolInvocationToken: undefined, model } as unknown as vscode.ChatRequest;
}

/** As agent mode calls the tool (outside a chat request: no invocation token). */
const invoke = (input: Record<string, unknown>) => Promise.resolve(vscode.lm.invokeTool(TOOL, { input, toolInvocationToken: undefined }, new vscode.CancellationTokenSource().token));

const fileRef = (p: string): vscode.ChatPromptReference => ({ id: 'vscode.file', value: vscode.Uri.file(p) });

suite(`Chat and agent mode (${PHASE} workspace)`, () => {
  const never = new vscode.CancellationTokenSource().token;

  test('the tool is contributed with its input schema', () => {
    const tool = vscode.lm.tools.find((t) => t.name === TOOL);
    assert.ok(tool, vscode.lm.tools.map((t) => t.name).join(', '));
    assert.deepEqual((tool.inputSchema as { required?: string[] }).required, ['path', 'question']);
  });

  if (PHASE === 'untrusted') {
    test('Restricted Mode: the tool returns no image', async () => {
      await assert.rejects(
        invoke({ path: 'red-box.png', question: 'where is the red box?' }),
        /Restricted Mode/,
      );
    });

    test('Restricted Mode: @attention shows the heatmap but sends nothing to the model', async () => {
      const api = await testHooks();
      const before = fakeModels.requests.length;
      const { stream, parts, text } = recordingStream();
      await api.chat(chatRequest('where is the red box? #file:red-box.png', await testModel('test-vision'), [fileRef(image('red-box.png'))]), { history: [] } as unknown as vscode.ChatContext, stream, never);
      assert.match(text(), /Restricted Mode: the image is not sent to Test Vision/);
      assert.ok(parts.some((p) => p.kind === 'button'), 'the heatmap panel button');
      assert.equal(fakeModels.requests.length, before, 'nothing reached the model');
    });
    return;
  }

  test('invokeTool: the masked image as an image part and the favoured region in pixels', async () => {
    const result = await invoke({ path: 'red-box.png', question: 'where is the red box?' });
    const data = result.content.filter((p): p is vscode.LanguageModelDataPart => p instanceof vscode.LanguageModelDataPart);
    const text = result.content.filter((p): p is vscode.LanguageModelTextPart => p instanceof vscode.LanguageModelTextPart).map((p) => p.value).join('');
    assert.equal(data.length, 1, 'one image part');
    assert.match(data[0].mimeType, /^image\/(png|jpeg)$/);
    const masked = await rgbOf(data[0].data);
    assert.deepEqual([masked.width, masked.height], [600, 400], 'full resolution (under vlm.maxImageSide)');
    assert.ok(meanIn(masked, RED, 0, true) > 180, 'the red box stays');
    assert.ok(meanIn(masked, RED, 1, false) < 40, 'the rest fades toward gray 0');
    const m = /x (\d+)–(\d+), y (\d+)–(\d+) \((\d+)×(\d+) px, ([\d.]+)% of the image\)/.exec(text);
    assert.ok(m, text);
    const [x0, x1, y0, y1, , , share] = m.slice(1).map(Number);
    const cx = RED.left + RED.width / 2;
    const cy = RED.top + RED.height / 2;
    assert.ok(x0 <= cx && cx <= x1 && y0 <= cy && cy <= y1, `the box ${text} holds the red box's centre`);
    assert.ok(x0 > 200 && share > 1 && share < 40, `the box stays near the red box: ${text}`);
    assert.match(text, /red-box\.png \(600×400 px\) masked for “where is the red box\?”/);
    assert.match(text, /CLIP model .*planted-clip.*, layer \d+ of \d+/);
  });

  test('invokeTool refuses a path outside the workspace, and names a missing image', async () => {
    const outside = path.join(os.tmpdir(), `outside-${process.pid}.png`);
    fs.copyFileSync(image('red-box.png'), outside);
    try {
      await assert.rejects(invoke({ path: outside, question: 'q?' }), /outside the workspace/);
      await assert.rejects(invoke({ path: '../' + path.basename(outside), question: 'q?' }), /outside the workspace/);
    } finally {
      fs.rmSync(outside, { force: true });
    }
    await assert.rejects(invoke({ path: 'missing.png', question: 'q?' }), /Cannot read missing\.png/);
    await assert.rejects(invoke({ path: 'red-box.png' }), /needs "question"/);
  });

  test('@attention: overlay preview, panel button, the masked image to request.model, the answer streamed', async () => {
    const api = await testHooks();
    const model = await testModel('test-vision');
    const before = fakeModels.requests.length;
    const { stream, parts, text } = recordingStream();
    const result = await api.chat(chatRequest('where is the red box? #file:red-box.png', model, [{ ...fileRef(image('red-box.png')), range: [22, 39] }]), { history: [] } as unknown as vscode.ChatContext, stream, never);
    assert.equal(result?.errorDetails, undefined, result?.errorDetails?.message);
    const sent = fakeModels.requests.slice(before);
    assert.equal(sent.length, 1, 'one request to the chat model');
    const images = sent[0].parts.filter((p) => p.kind === 'data');
    assert.equal(images.length, 1, 'the masked image as an image part');
    const masked = await rgbOf(images[0].bytes!);
    assert.ok(meanIn(masked, RED, 0, true) > 180 && meanIn(masked, RED, 1, false) < 40, 'it is the masked image');
    assert.deepEqual(sent[0].parts.filter((p) => p.kind === 'text').map((p) => p.text), ['where is the red box?'], 'the question without the #file reference');
    // The preview: a markdown image of the overlay PNG, inline (a web workbench refuses file: URIs).
    const md = /!\[[^\]]*\]\(data:image\/png;base64,([A-Za-z0-9+/=]+)\)/.exec(text());
    assert.ok(md, text().slice(0, 300));
    const overlay = await rgbOf(Buffer.from(md[1], 'base64'));
    assert.ok(overlay.width <= 512 && overlay.width > 0, 'a preview-size overlay');
    const button = parts.find((p) => p.kind === 'button')?.value as vscode.Command;
    assert.equal(button.command, 'attentionPrompting.openHeatmapFor');
    // Streamed in several pieces, the whole answer in order.
    const answerPieces = parts.filter((p) => p.kind === 'markdown').length;
    assert.ok(answerPieces > 4, `streamed (${answerPieces} markdown parts)`);
    assert.match(text(), /Test Vision saw 1 image\(s\) \(image\/(png|jpeg) \d+ bytes\)\. You asked: where is the red box\?/);
    // The button opens the heatmap panel for that image and question.
    await vscode.commands.executeCommand(button.command, ...(button.arguments ?? []));
    const snap = await waitFor('the panel from chat', () => api.panels().find((p) => p.imagePath === image('red-box.png') && p.question === 'where is the red box?' && p.images));
    assert.ok(snap.summary);
    // The follow-up answers the same question on the original image.
    const followups = await api.chatFollowups(result!);
    assert.deepEqual(followups.map((f: vscode.ChatFollowup) => f.command), ['compare']);
    const history = [{ participant: 'attentionPrompting.attention', command: undefined, response: [], result }];
    const compare = recordingStream();
    const beforeCompare = fakeModels.requests.length;
    await api.chat(chatRequest('', model, [], 'compare'), { history: history.map((h) => Object.setPrototypeOf(h, vscode.ChatResponseTurn.prototype)) } as unknown as vscode.ChatContext, compare.stream, never);
    const original = fakeModels.requests.slice(beforeCompare);
    assert.equal(original.length, 1);
    const got = await rgbOf(original[0].parts.find((p) => p.kind === 'data')!.bytes!);
    assert.ok(meanIn(got, RED, 1, false) > 100, 'the original image (gray background, not faded)');
    assert.match(compare.text(), /on the original image/);
  });

  test('@attention without an image says how to attach one; a text-only model is refused with the fix', async () => {
    const api = await testHooks();
    const noImage = recordingStream();
    await api.chat(chatRequest('what is this?', await testModel('test-vision'), []), { history: [] } as unknown as vscode.ChatContext, noImage.stream, never);
    assert.match(noImage.text(), /Attach an image to ask about: add `#file:photo\.jpg`/);
    const textOnly = recordingStream();
    const result = await api.chat(chatRequest('where is the red box?', await testModel('test-text'), [fileRef(image('red-box.png'))]), { history: [] } as unknown as vscode.ChatContext, textOnly.stream, never);
    assert.match(result?.errorDetails?.message ?? '', /Test Text Only does not accept images: pick a model that does/);
  });

  test('@attention honours cancellation: Stop mid-answer ends the turn', async () => {
    const api = await testHooks();
    fakeModels.faults.push({ kind: 'slow', delayMs: 500 });
    const source = new vscode.CancellationTokenSource();
    const { stream, text } = recordingStream();
    const pending = api.chat(chatRequest('describe it slowly', await testModel('test-vision'), [fileRef(image('red-box.png'))]), { history: [] } as unknown as vscode.ChatContext, stream, source.token);
    await waitFor('the answer to start', () => text().includes('ion saw') || undefined, 60_000);
    source.cancel();
    const result = await pending;
    assert.equal(result?.errorDetails, undefined);
    const cut = text();
    assert.ok(!cut.includes('You asked: describe it slowly'), 'the answer was cut short');
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(text(), cut, 'nothing streamed after the cancellation');
  });
});
