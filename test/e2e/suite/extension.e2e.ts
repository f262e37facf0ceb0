/**
 * Integration tests inside a real VS Code extension host (code-server here; usable with
 * @vscode/test-electron on desktop). The product extension is the installed VSIX. UI actions
 * (right-click, dialogs, webview clicks and pixels, screenshots) are asked of the driver over
 * HTTP; the VLM endpoint is the driver's local OpenAI-compatible server.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExtensionTestApi } from '../../../src/extension/extension';
import type { AnswerEntry } from '../../../src/shared/protocol';

// sharp comes from the repository's node_modules (the same version the VSIX ships).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sharp = require('sharp') as typeof import('sharp');

const CONTROL = process.env.E2E_CONTROL_URL!;
const PHASE = process.env.E2E_PHASE ?? 'trusted';
const WORKSPACE = process.env.E2E_WORKSPACE!;
const RED = { left: 380, top: 40, width: 170, height: 130 };
const image = (name: string) => path.join(WORKSPACE, name);

async function control<T = Record<string, unknown>>(action: Record<string, unknown>): Promise<T> {
  const r = await fetch(`${CONTROL}/__control/action`, { method: 'POST', body: JSON.stringify(action) });
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new Error(`driver action ${String(action.kind)} failed: ${body.error}`);
  return body;
}

interface VlmLog {
  aborted: number;
  requests: Array<{ question: string; model: string; image?: { mime: string; width: number; height: number; rgb: string } }>;
}
const vlmLog = async (): Promise<VlmLog> => (await fetch(`${CONTROL}/__vlm/requests`)).json() as Promise<VlmLog>;

/** Earlier toasts (at most three show at once) must not hide the one a test waits for. */
async function clearNotifications(): Promise<void> {
  await vscode.commands.executeCommand('notifications.clearAll');
  // The workbench removes toasts with an animation; a toast added meanwhile can be swept along.
  await new Promise((r) => setTimeout(r, 500));
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function rgbOf(png: Uint8Array): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(Buffer.from(png)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function meanIn(img: { data: Buffer; width: number }, region: typeof RED, channel: number, inside: boolean): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < img.data.length / 3; i++) {
    const x = i % img.width;
    const y = Math.floor(i / img.width);
    const isIn = x >= region.left && x < region.left + region.width && y >= region.top && y < region.top + region.height;
    if (isIn === inside) {
      sum += img.data[i * 3 + channel];
      n++;
    }
  }
  return sum / n;
}

suite(`Attention Prompting in VS Code (${PHASE} workspace)`, () => {
  let api: ExtensionTestApi;

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<ExtensionTestApi>('attention-prompting.attention-prompting');
    assert.ok(ext, 'the VSIX is installed');
    api = await ext.activate();
    assert.equal(vscode.workspace.isTrusted, PHASE === 'trusted');
  });

  test('the Explorer context menu offers the commands on images only', async () => {
    const onImage = await control<{ items: string[] }>({ kind: 'menuItems', file: 'red-box.png' });
    assert.ok(onImage.items.includes('Ask About Image…'), onImage.items.join(' | '));
    assert.ok(onImage.items.includes('Show Heatmap…'));
    const onText = await control<{ items: string[] }>({ kind: 'menuItems', file: 'notes.txt' });
    assert.ok(!onText.items.includes('Ask About Image…'));
  });

  test('right-click an image → Show Heatmap… → the panel shows the original, the overlay and the masked image', async () => {
    const started = Date.now();
    await control({ kind: 'explorerCommand', file: 'red-box.png', item: 'Show Heatmap…', type: 'where is the red box?' });
    const snap = await waitFor('the heatmap', () => api.panels().find((p) => p.imagePath === image('red-box.png') && p.images));
    console.log(`E2E:METRIC command-to-heatmap ${Date.now() - started} ms (panel open to first heatmap ${snap.firstHeatmapMs?.toFixed(0)} ms)`);
    assert.deepEqual(snap.summary!.grid, [14, 14]);
    const original = await rgbOf(snap.images!.original);
    const source = await sharp(image('red-box.png')).removeAlpha().raw().toBuffer();
    assert.ok(original.data.equals(source), 'the original is shown unchanged');
    const masked = await rgbOf(snap.images!.masked);
    assert.ok(meanIn(masked, RED, 0, true) > 180, 'the red box stays visible in the masked image');
    assert.ok(meanIn(masked, RED, 1, false) < 40, 'the rest fades toward gray level 0');
    const overlay = await rgbOf(snap.images!.overlay);
    assert.ok(!overlay.data.equals(original.data), 'the overlay is coloured');
    // What the webview really displays.
    const shown = await control<Record<string, { width: number; shown: boolean; pixels: number[][] }> & { askDisabled: boolean }>({
      kind: 'webviewImages',
      file: 'red-box.png',
      points: [[RED.left + 85, RED.top + 65], [50, 350]],
    });
    for (const id of ['original', 'overlay', 'masked']) {
      assert.equal(shown[id].width, 600, `${id} decoded in the webview`);
      assert.ok(shown[id].shown, `${id} is laid out`);
    }
    assert.deepEqual(shown.original.pixels[0], [255, 0, 0]);
    assert.deepEqual(shown.original.pixels[1], [128, 128, 128]);
    assert.ok(shown.masked.pixels[0][0] > 200 && shown.masked.pixels[1][0] < 30, `masked pixels ${JSON.stringify(shown.masked.pixels)}`);
    assert.equal(shown.askDisabled, PHASE !== 'trusted', 'Ask is available only in a trusted workspace');
    await control({ kind: 'screenshot', name: 'heatmap-panel' });
  });

  test('a corrupt image gets a clear error in its panel', async () => {
    await control({ kind: 'explorerCommand', file: 'corrupt.png', item: 'Show Heatmap…', type: 'what is this?' });
    const snap = await waitFor('the error', () => api.panels().find((p) => p.imagePath === image('corrupt.png') && p.error));
    assert.match(snap.error!, /could not be read as an image/);
    await control({ kind: 'screenshot', name: 'corrupt-image' });
  });

  test('Save masked image writes the full-resolution mask next to the original, never overwriting', async () => {
    const fs = await import('node:fs');
    const first = image('red-box.attention.png');
    const second = image('red-box.attention-2.png');
    await control({ kind: 'clickWebview', file: 'red-box.png', selector: '#save' });
    await waitFor('the saved file', () => fs.existsSync(first), 15_000);
    await control({ kind: 'clickWebview', file: 'red-box.png', selector: '#save' });
    await waitFor('a second file', () => fs.existsSync(second), 15_000);
    const meta = await sharp(first).metadata();
    assert.deepEqual([meta.width, meta.height], [600, 400]);
    const a = await sharp(first).raw().toBuffer();
    const b = await sharp(second).raw().toBuffer();
    assert.ok(a.equals(b), 'same parameters, same image');
    assert.ok(fs.existsSync(image('red-box.png')));
  });

  test('Review Folder… on a folder: a batch run in the engine process, and its report in a webview', async () => {
    const menu = await control<{ items: string[] }>({ kind: 'menuItems', file: 'dataset' });
    assert.ok(menu.items.includes('Review Folder…'), menu.items.join(' | '));
    const os = await import('node:os');
    const fs = await import('node:fs');
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ap-review-'));
    const outcome = await api.review({
      folder: vscode.Uri.file(image('dataset')),
      question: 'where is the red box?',
      outDir: vscode.Uri.file(out),
      withVlm: PHASE === 'trusted',
    });
    assert.ok(outcome);
    assert.deepEqual([outcome.done, outcome.failed, outcome.total], [3, 0, 3]);
    const lines = fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    if (PHASE === 'trusted') assert.ok(lines.every((l: { maskedAnswer?: string }) => /You asked: where is the red box\?/.test(l.maskedAnswer ?? '')));
    else assert.ok(lines.every((l: { maskedAnswer?: string }) => l.maskedAnswer === undefined), 'Restricted Mode: masks only');
    const report = await control<{ rows: number; thumbnails: number }>({ kind: 'reportRows' });
    assert.deepEqual(report, { rows: 3, thumbnails: 9 });
    await control({ kind: 'screenshot', name: 'review-report' });
    // Close the report so the heatmap panel underneath is visible again for the next tests.
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  if (PHASE === 'untrusted') {
    test('Restricted Mode: heatmaps work, but nothing is sent to the VLM', async () => {
      const before = (await vlmLog()).requests.length;
      await clearNotifications();
      const entry = await api.askAbout(image('red-box.png'), 'what is red?');
      assert.equal(entry, undefined);
      const toasts = await control<{ texts: string[] }>({ kind: 'notifications', waitFor: 'needs a trusted workspace' });
      assert.ok(toasts.texts.some((t) => /needs a trusted workspace/.test(t)), toasts.texts.join(' | '));
      assert.equal((await vlmLog()).requests.length, before);
      await control({ kind: 'screenshot', name: 'restricted-mode' });
    });
    return;
  }

  test('Ask: the VLM receives the masked image, and both answers stream into the side panel', async () => {
    const before = (await vlmLog()).requests.length;
    await clearNotifications();
    await control({ kind: 'clickWebview', file: 'red-box.png', selector: '#ask' });
    // First request to a host other than OpenAI's: the user confirms once.
    await control({ kind: 'clickNotification', text: 'Send images and your API key to 127.0.0.1', label: 'Send' });
    const entry = await waitFor('both answers', () => api.answers.all().find((e) => e.masked.status === 'done' && (e.original.status === 'done' || e.original.status === 'error'))).catch(async (e: Error) => {
      throw new Error(`${e.message}; entries: ${JSON.stringify(api.answers.all())}; vlm: ${(await vlmLog()).requests.length} requests`);
    });
    assert.equal(entry.original.status, 'done', entry.original.error);
    const log = await vlmLog();
    const sent = log.requests.slice(before);
    assert.equal(sent.length, 2, 'masked and original');
    const snap = api.panels().find((p) => p.imagePath === image('red-box.png'))!;
    const expected = await api.engine.request('export', { attributionId: snap.summary!.attributionId, view: snap.view, which: 'masked', format: 'png' });
    const expectedRgb = await rgbOf((expected as { data: Uint8Array }).data);
    const source = await sharp(image('red-box.png')).removeAlpha().raw().toBuffer();
    const received = sent.map((r) => Buffer.from(r.image!.rgb, 'base64'));
    assert.ok(received.some((b) => b.equals(expectedRgb.data)), 'one request carries exactly the masked image');
    assert.ok(received.some((b) => b.equals(source)), 'the other carries the original');
    assert.ok(sent.every((r) => r.question === 'where is the red box?' && r.model === 'test-vision'));
    assert.equal(entry.masked.text, 'Seen a 600x400 image. You asked: where is the red box?');
    const panelText = await control<{ text: string }>({ kind: 'answersText' });
    assert.match(panelText.text, /Seen a 600x400 image\. You asked: where is the red box\?/);
    assert.match(panelText.text, /test-vision · 127\.0\.0\.1/);
    await control({ kind: 'screenshot', name: 'answers' });
  });

  test('Stop cancels an answer mid-stream', async () => {
    await fetch(`${CONTROL}/__vlm/faults`, { method: 'POST', body: JSON.stringify({ faults: [{ kind: 'slow', delayMs: 400, chunks: 30 }, { kind: 'slow', delayMs: 400, chunks: 30 }] }) });
    const abortedBefore = (await vlmLog()).aborted;
    const pending = api.askAbout(image('red-box.png'), 'describe it slowly');
    const streaming = await waitFor('a streaming answer', () => api.answers.all().find((e: AnswerEntry) => e.question === 'describe it slowly' && e.masked.text.length > 0));
    await control({ kind: 'clickAnswerButton', label: 'Stop' });
    await pending;
    const done = api.answers.all().find((e) => e.id === streaming.id)!;
    assert.equal(done.masked.status, 'stopped');
    assert.ok(done.masked.text.length < 'Seen a 600x400 image. You asked: describe it slowly'.length, 'the answer was cut short');
    await waitFor('the server to see the connection close', async () => (await vlmLog()).aborted >= abortedBefore + 1, 5000);
    await control({ kind: 'screenshot', name: 'stopped' });
  });

  test('endpoint down: a clear error in the side panel', async () => {
    const config = vscode.workspace.getConfiguration('attentionPrompting');
    const original = config.get<string>('vlm.baseURL');
    await config.update('vlm.baseURL', 'http://127.0.0.1:9/v1', vscode.ConfigurationTarget.Global);
    try {
      await clearNotifications();
      const pending = api.askAbout(image('red-box.png'), 'is anyone there?');
      await control({ kind: 'clickNotification', text: 'to 127.0.0.1:9', label: 'Send' });
      const entry = await pending;
      assert.ok(entry);
      const after = api.answers.get(entry.id)!;
      assert.equal(after.masked.status, 'error');
      assert.match(after.masked.error!, /Cannot reach 127\.0\.0\.1:9/);
    } finally {
      await config.update('vlm.baseURL', original, vscode.ConfigurationTarget.Global);
    }
    await control({ kind: 'screenshot', name: 'endpoint-down' });
  });

  test('missing API key: nothing is sent and the user is told how to set one', async () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      const before = (await vlmLog()).requests.length;
      await clearNotifications();
      const entry = await api.askAbout(image('red-box.png'), 'no key?');
      assert.equal(entry, undefined);
      const toasts = await control<{ texts: string[] }>({ kind: 'notifications', waitFor: 'No API key for' });
      assert.ok(toasts.texts.some((t) => /No API key for 127\.0\.0\.1/.test(t)), toasts.texts.join(' | '));
      assert.equal((await vlmLog()).requests.length, before);
    } finally {
      process.env.OPENAI_API_KEY = saved;
    }
  });

  test('the side panel keeps its history when hidden and shown again', async () => {
    const count = api.answers.all().length;
    await vscode.commands.executeCommand('workbench.view.explorer');
    await vscode.commands.executeCommand('attentionPrompting.answers.focus');
    const text = await control<{ text: string }>({ kind: 'answersText' });
    assert.match(text.text, /where is the red box\?/);
    assert.equal(api.answers.all().length, count);
  });
});
