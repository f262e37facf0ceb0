/**
 * VS Code's language models as the source of answers, against the suite's fake `test` vendor
 * (fakeLanguageModels.ts, registered through the stable provider API): what arrives is recorded
 * part by part, so the checks are on the bytes the model received.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExtensionTestApi } from '../../../src/extension/testHooks';
import { fakeModels } from './fakeLanguageModels';
import { PHASE, answersText, clearNotifications, control, image, quickPickItems, testHooks, waitFor } from './helpers';

const RED_BOX = image('red-box.png');

suite(`VS Code language models as the answer source (${PHASE} workspace)`, () => {
  let hooks: ExtensionTestApi;
  const api = () => hooks;
  const config = () => vscode.workspace.getConfiguration('attentionPrompting');

  suiteSetup(async () => {
    hooks = await testHooks();
    await waitFor('the fake models', async () => (await vscode.lm.selectChatModels({ vendor: 'test' })).length === 2 || undefined, 15_000);
    // The red box's panel, with its heatmap (the panel the chat participant's button opens).
    await vscode.commands.executeCommand('attentionPrompting.openHeatmapFor', vscode.Uri.file(RED_BOX), 'where is the red box?');
    await waitFor('the red box heatmap', () => api().panels().find((p) => p.imagePath === RED_BOX && p.question === 'where is the red box?' && p.images), 60_000);
  });

  suiteTeardown(async () => {
    await config().update('answers.source', 'openai', vscode.ConfigurationTarget.Global);
  });

  if (PHASE === 'untrusted') {
    test('Restricted Mode: nothing is sent to a VS Code model', async () => {
      await config().update('answers.source', 'vscode', vscode.ConfigurationTarget.Global);
      const before = fakeModels.requests.length;
      await clearNotifications();
      assert.equal(await api().askAbout(RED_BOX, 'anything red?'), undefined);
      const toasts = await control<{ texts: string[] }>({ kind: 'notifications', waitFor: 'needs a trusted workspace' });
      assert.ok(toasts.texts.some((t) => /needs a trusted workspace/.test(t)), toasts.texts.join(' | '));
      assert.equal(fakeModels.requests.length, before, 'no request reached the model');
    });
    return;
  }

  test('Choose Answer Model… lists the models that accept images, with vendor and family, next to the endpoint and the local model', async () => {
    const picking = vscode.commands.executeCommand('attentionPrompting.chooseAnswerModel');
    const shown = await quickPickItems((items) => items.some((t) => /Local vision-language model/.test(t)));
    assert.ok(shown.items.some((t) => /Test Vision/.test(t) && /test · test-vision-family/.test(t)), shown.items.join(' | '));
    assert.ok(!shown.items.some((t) => /Test Text Only/.test(t)), 'a model without image input is not offered');
    assert.ok(shown.items.some((t) => /OpenAI-compatible endpoint/.test(t)), shown.items.join(' | '));
    assert.ok(shown.items.some((t) => /Local vision-language model/.test(t)), shown.items.join(' | '));
    await control({ kind: 'quickPickSelect', label: 'Test Vision' });
    await picking;
    assert.equal(config().get('answers.source'), 'vscode', 'the choice is remembered');
    await control({ kind: 'screenshot', name: 'choose-answer-model' });
  });

  test('Ask: the masked image arrives as an image part, both answers stream into the Answers panel, model and vendor in history', async () => {
    const before = fakeModels.requests.length;
    const entry = await api().askAbout(RED_BOX, 'where is the red box?');
    assert.ok(entry, 'the ask started');
    const done = api().answers.get(entry.id)!;
    assert.equal(done.masked.status, 'done', done.masked.error);
    assert.equal(done.original.status, 'done', done.original.error);
    assert.equal(done.model, 'Test Vision');
    assert.equal(done.host, 'test');
    const sent = fakeModels.requests.slice(before);
    assert.equal(sent.length, 2, 'masked and original');
    const snap = api().panels().find((p) => p.imagePath === RED_BOX)!;
    for (const which of ['masked', 'original'] as const) {
      const expected = await api().engine.request('payload', { attributionId: snap.summary!.attributionId, view: snap.view, which, maxSide: 2048, format: 'auto' });
      const bytes = Buffer.from(expected.bytes);
      const match = sent.find((r) => r.parts.some((p) => p.kind === 'data' && p.mime === expected.mime && Buffer.from(p.bytes!).equals(bytes)));
      assert.ok(match, `the ${which} image's exact bytes arrived as an image data part`);
      assert.deepEqual(match.parts.filter((p) => p.kind === 'text').map((p) => p.text), ['where is the red box?'], 'the question as text');
    }
    assert.match(done.masked.text, /^Test Vision saw 1 image\(s\) \(image\/(png|jpeg) \d+ bytes\)\. You asked: where is the red box\?$/);
    const panel = await answersText(/Test Vision saw 1 image[\s\S]*Test Vision · test/);
    assert.match(panel.text, /Test Vision saw 1 image/);
    assert.match(panel.text, /Test Vision · test/);
    await control({ kind: 'screenshot', name: 'answers-vscode-model' });
  });

  test('Stop cancels a VS Code model mid-stream', async () => {
    // Slow enough that Stop lands mid-stream on a busy machine (about 10 s per answer).
    fakeModels.faults.push({ kind: 'slow', delayMs: 1000 }, { kind: 'slow', delayMs: 1000 });
    const pending = api().askAbout(RED_BOX, 'describe the box slowly');
    const streaming = await waitFor('a streaming answer', () => api().answers.all().find((e) => e.question === 'describe the box slowly' && e.masked.text.length > 0));
    await control({ kind: 'clickAnswerButton', label: 'Stop' });
    await pending;
    const stopped = api().answers.get(streaming.id)!;
    assert.equal(stopped.masked.status, 'stopped');
    assert.ok(!stopped.masked.text.endsWith('describe the box slowly'), 'the answer was cut short');
    // The request's cancellation token is cancelled and nothing more is read. (VS Code 1.106
    // forwards a consumer's cancellation to the provider only while the request is starting, so
    // the fake provider itself streams on: checked here is that none of it reaches the history.)
    const cut = stopped.masked.text;
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(api().answers.get(streaming.id)!.masked.text, cut, 'no text after Stop');
  });

  test('Review Folder with a VS Code model: the engine asks the host for every image; results name the model', async () => {
    const before = fakeModels.requests.length;
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ap-review-lm-'));
    const outcome = await api().review({ folder: vscode.Uri.file(image('dataset')), question: 'which colour is the box?', outDir: vscode.Uri.file(out), withVlm: true });
    assert.ok(outcome);
    assert.deepEqual([outcome.done, outcome.failed, outcome.total], [3, 0, 3]);
    const sent = fakeModels.requests.slice(before);
    assert.equal(sent.length, 6, 'masked and original for each of 3 images');
    assert.ok(sent.every((r) => r.model === 'test-vision' && r.parts.filter((p) => p.kind === 'data').length === 1), 'one image part each');
    const lines = fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { vlmModel?: string; endpointHost?: string; maskedAnswer?: string });
    assert.equal(lines.length, 3);
    for (const l of lines) {
      assert.equal(l.vlmModel, 'Test Vision');
      assert.equal(l.endpointHost, 'test');
      assert.match(l.maskedAnswer ?? '', /^Test Vision saw 1 image\(s\) .*You asked: which colour is the box\?$/);
    }
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  const cases: Array<[typeof fakeModels.faults[number]['kind'], RegExp]> = [
    ['NoPermissions', /may not use Test Vision \(test\): allow it when VS Code asks/],
    ['Blocked', /Test Vision \(test\) refused the request \(blocked/],
    ['NotFound', /Test Vision \(test\) is no longer available/],
    ['quota', /your quota for this model is used up/],
  ];
  for (const [fault, message] of cases) {
    test(`LanguageModelError ${fault}: a clear message with the action that fixes it`, async () => {
      fakeModels.faults.push({ kind: fault } as never, { kind: fault } as never);
      await clearNotifications();
      const entry = await api().askAbout(RED_BOX, `fault ${fault}?`);
      assert.ok(entry);
      const after = api().answers.get(entry.id)!;
      assert.equal(after.masked.status, 'error');
      assert.match(after.masked.error!, message);
      const toasts = await control<{ texts: string[] }>({ kind: 'notifications', waitFor: after.masked.error!.slice(0, 30) });
      assert.ok(toasts.texts.some((t) => message.test(t) && /Choose Answer Model/.test(t)), toasts.texts.join(' | '));
    });
  }
});
