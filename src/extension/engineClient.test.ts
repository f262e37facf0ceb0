import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ROOT, fixtureModel, rectangleImage, tempDir } from '../../test/helpers';
import { startFakeVlm, type FakeVlm } from '../../test/vlm/server';
import type { VlmSettings } from '../core/defaults';
import type { AttributeParams, ViewParameters } from '../shared/protocol';
import { DEFAULT_VLM_SETTINGS } from '../core/defaults';
import { EngineClient } from './engineClient';
import { startLocalHub } from '../../test/hub/server';

const view: ViewParameters = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', layer: null, opacity: 0.5, aux: 'clip', hint: '' };
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47];

describe('engine process client', () => {
  const dir = tempDir('ap-engine-');
  const logs: string[] = [];
  const lateReplies: Array<{ kind: string; outcome: string }> = [];
  const client = new EngineClient({ scriptPath: path.join(ROOT, 'dist', 'engine.js'), idleMs: 0, log: (l, m) => logs.push(`${l} ${m}`) });
  client.onLateReply = (kind, outcome) => lateReplies.push({ kind, outcome });
  after(() => client.dispose());
  const image = path.join(dir, 'scene.png');
  /** Large enough that encoding it at full resolution takes far longer than a message round trip. */
  const large = path.join(dir, 'large.png');
  const params = (over: Partial<AttributeParams> = {}): AttributeParams => ({
    imagePath: image,
    question: 'where is the red box?',
    model: { model: fixtureModel('planted-clip'), dtype: 'fp32', cacheDir: path.join(dir, 'cache'), geometry: 'full', threads: 1 },
    view,
    previewMaxSide: 300,
    ...over,
  });
  before(async () => {
    fs.writeFileSync(image, await rectangleImage(600, 400, 'red', { left: 400, top: 50, width: 150, height: 120 }));
    fs.writeFileSync(large, await rectangleImage(5000, 4000, 'red', { left: 3000, top: 400, width: 1200, height: 900 }));
  });

  /** Waits for the engine's own last word on a request the host cancelled. */
  async function engineOutcome(kind: string): Promise<string> {
    for (let i = 0; i < 600; i++) {
      const found = lateReplies.find((r) => r.kind === kind);
      if (found) {
        lateReplies.splice(lateReplies.indexOf(found), 1);
        return found.outcome;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the engine never answered the cancelled ${kind}`);
  }

  it('starts lazily, computes a heatmap in the child, and re-renders from cached maps (typed replies, no casts)', async () => {
    assert.equal(client.running, false);
    const progress: string[] = [];
    const r = await client.request('attribute', params(), { onProgress: (p) => progress.push(p.stage) });
    assert.equal(client.running, true);
    assert.notEqual(client.pid, process.pid);
    assert.deepEqual(progress.filter((s) => s !== 'download').slice(-2), ['heatmap', 'render']);
    assert.deepEqual(r.summary.grid, [14, 14]);
    assert.deepEqual([r.summary.imageWidth, r.summary.imageHeight], [600, 400]);
    assert.deepEqual([r.images.width, r.images.height], [300, 200], 'preview is downscaled');
    for (const k of ['original', 'overlay', 'masked'] as const) {
      assert.ok(r.images[k] instanceof Uint8Array, 'bytes cross IPC as typed arrays');
      assert.equal((await sharp(r.images[k]).metadata()).width, 300);
    }
    const again = await client.request('rerender', { attributionId: r.summary.attributionId, view: { ...view, gray: 255 }, previewMaxSide: 300 });
    assert.notDeepEqual(Buffer.from(again.images.masked), Buffer.from(r.images.masked));
    assert.deepEqual(Buffer.from(again.images.original), Buffer.from(r.images.original));
    const full = await client.request('export', { attributionId: r.summary.attributionId, view, which: 'masked', format: 'png' });
    const meta = await sharp(full.data).metadata();
    assert.deepEqual([meta.width, meta.height], [600, 400]);
    assert.equal(full.sourceFormat, 'png');
    const payload = await client.request('payload', { attributionId: r.summary.attributionId, view, which: 'masked', maxSide: 200, format: 'auto' });
    assert.equal(payload.mime, 'image/png');
    assert.deepEqual([...payload.bytes.subarray(0, 4)], PNG_SIGNATURE, 'the model image is bytes, not a data URL');
    assert.equal((await sharp(payload.bytes).metadata()).width, 200);
  });

  it('reports engine errors with codes from the one closed set', async () => {
    await assert.rejects(client.request('attribute', params({ question: '' })), { code: 'bad-query' });
    await assert.rejects(client.request('attribute', params({ imagePath: path.join(dir, 'nope.png') })), { code: 'bad-image' });
    await assert.rejects(client.request('rerender', { attributionId: 'gone', view, previewMaxSide: 100 }), { code: 'expired', message: /no longer in memory/ });
  });

  it('survives the engine process dying mid-request, and restarts on the next one', async () => {
    const starts = client.starts;
    const pending = client.request('attribute', params());
    process.kill(client.pid!, 'SIGKILL');
    await assert.rejects(pending, { code: 'engine-crashed', message: /stopped unexpectedly \(signal SIGKILL\)/ });
    assert.equal(client.running, false);
    const r = await client.request('attribute', params());
    assert.equal(client.starts, starts + 1);
    assert.deepEqual(r.summary.grid, [14, 14]);
  });

  it('cancellation reaches the engine: a cancelled heatmap stops there, and the process stays usable', async () => {
    const controller = new AbortController();
    const pending = client.request('attribute', params({ imagePath: large }), { signal: controller.signal, onProgress: (p) => p.stage === 'heatmap' && controller.abort() });
    await assert.rejects(pending, { code: 'cancelled' });
    assert.equal(await engineOutcome('attribute'), 'cancelled', 'the engine stopped the work instead of finishing it');
    await client.request('attribute', params());
  });

  it('cancellation reaches the engine: export and payload of a large image stop in the engine', async () => {
    const { summary } = await client.request('attribute', params({ imagePath: large }));
    for (const kind of ['export', 'payload'] as const) {
      const controller = new AbortController();
      const onProgress = () => controller.abort();
      const pending =
        kind === 'export'
          ? client.request('export', { attributionId: summary.attributionId, view, which: 'masked', format: 'png' }, { signal: controller.signal, onProgress })
          : client.request('payload', { attributionId: summary.attributionId, view, which: 'masked', maxSide: 5000, format: 'png' }, { signal: controller.signal, onProgress });
      await assert.rejects(pending, { code: 'cancelled' });
      assert.equal(await engineOutcome(kind), 'cancelled', `the engine finished a cancelled ${kind} instead of stopping`);
    }
  });

  it('the engine process gets no API keys or tokens from the host environment', { skip: process.platform !== 'linux' }, () => {
    const saved = { ...process.env };
    process.env.OPENAI_API_KEY = 'sk-secret-from-the-host';
    process.env.GITHUB_TOKEN = 'ghp-secret';
    const isolated = new EngineClient({ scriptPath: path.join(ROOT, 'dist', 'engine.js'), idleMs: 0, log: () => undefined });
    try {
      void isolated.request('release', {}).catch(() => undefined);
      const environ = fs.readFileSync(`/proc/${isolated.pid}/environ`, 'utf8').split('\0');
      assert.ok(!environ.some((v) => v.includes('secret')), environ.filter((v) => v.includes('secret')).join(', '));
      assert.ok(environ.includes('ELECTRON_RUN_AS_NODE=1'));
    } finally {
      isolated.dispose();
      process.env = saved;
    }
  });

  it('the engine process runs in the folder of its own script, never the host\'s working folder', async () => {
    // A model id such as Xenova/clip-vit-large-patch14-336 must not resolve against whatever
    // folder the extension host was started in; a stand-in script reports where it runs.
    const scriptDir = tempDir('ap-engine-cwd-');
    const script = path.join(scriptDir, 'reportCwd.js');
    fs.writeFileSync(script, 'process.stdout.write("cwd=" + process.cwd() + "\\n");\n');
    const logged: string[] = [];
    const probe = new EngineClient({ scriptPath: script, idleMs: 0, log: (_l, m) => logged.push(m) });
    try {
      await assert.rejects(probe.request('attribute', params()), /stopped unexpectedly/);
      // The child's stdout may be read after its exit is seen: wait for the line (bounded).
      for (let i = 0; i < 100 && !logged.some((m) => m.startsWith('[engine] cwd=')); i++) await new Promise((r) => setTimeout(r, 50));
      const line = logged.find((m) => m.startsWith('[engine] cwd='));
      assert.ok(line, `the stand-in reported its folder: ${logged.join(' | ')}`);
      assert.equal(line.slice('[engine] cwd='.length), fs.realpathSync(scriptDir));
      assert.notEqual(fs.realpathSync(scriptDir), process.cwd());
    } finally {
      probe.dispose();
    }
  });

  it('releases the process after the idle period', async () => {
    const idle = new EngineClient({ scriptPath: path.join(ROOT, 'dist', 'engine.js'), idleMs: 300, log: () => undefined });
    try {
      await idle.request('attribute', params());
      assert.equal(idle.running, true);
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(idle.running, false);
    } finally {
      idle.dispose();
    }
  });

  describe('answers', () => {
    let vlm: FakeVlm;
    before(async () => (vlm = await startFakeVlm({ apiKey: 'sk-engine' })));
    after(() => vlm.close());
    const endpoint = (): VlmSettings => ({ baseURL: vlm.baseURL, model: 'test-vision', apiKey: 'sk-engine', imageDetail: 'auto', maxTokens: 100, temperature: 0, systemPrompt: '', timeoutMs: 10_000, maxRetries: 0 });

    it('the engine process asks the endpoint itself: the key travels in the request, the answer streams back as progress', async () => {
      const { summary } = await client.request('attribute', params());
      const deltas: string[] = [];
      const before = vlm.requests.length;
      const r = await client.request(
        'answer',
        { attributionId: summary.attributionId, view, which: 'masked', maxSide: 2048, format: 'png', question: 'what is red?', source: { kind: 'openai', endpoint: endpoint() } },
        { onProgress: (p) => deltas.push(p.delta) },
      );
      assert.equal(r.text, 'Seen a 600x400 image. You asked: what is red?');
      assert.ok(deltas.length > 1, 'streamed in pieces');
      assert.equal(deltas.join(''), r.text);
      const sent = vlm.requests.slice(before);
      assert.equal(sent.length, 1);
      const exported = await client.request('export', { attributionId: summary.attributionId, view, which: 'masked', format: 'png' });
      const { data } = await sharp(exported.data).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.ok(sent[0].image!.rgb.equals(data), 'the endpoint received exactly the masked image');
      assert.ok(!logs.some((l) => l.includes('sk-engine')), 'the key never reaches the log');
      await assert.rejects(
        client.request('answer', { attributionId: summary.attributionId, view, which: 'masked', maxSide: 2048, format: 'png', question: 'q', source: { kind: 'openai', endpoint: { ...endpoint(), apiKey: 'wrong' } } }),
        { code: 'auth' },
      );
    });

    it('a review can take its answers from the host (engine → host requests for each image)', async () => {
      const data = path.join(dir, 'review-data');
      fs.mkdirSync(data, { recursive: true });
      for (const colour of ['red', 'blue']) fs.writeFileSync(path.join(data, `${colour}.png`), await rectangleImage(120, 90, colour, { left: 10, top: 10, width: 40, height: 30 }));
      const asked: string[] = [];
      client.handle('answer', async (p) => {
        asked.push(`${p.question} ${p.image?.mime}`);
        return { text: `host saw ${p.image?.bytes.byteLength ? 'an image' : 'nothing'}`, model: 'vscode-test', elapsedMs: 1 };
      });
      const out = path.join(dir, 'review-out');
      const outcome = await client.request('batch', {
        input: data,
        question: 'which colour?',
        outDir: out,
        resume: false,
        model: params().model,
        view,
        concurrency: 2,
        vlm: { ...DEFAULT_VLM_SETTINGS, apiKey: '', compareWithOriginal: false },
        answerSource: 'vscode',
      });
      assert.deepEqual([outcome.done, outcome.failed], [2, 0]);
      assert.deepEqual(asked, ['which colour? image/png', 'which colour? image/png']);
      const lines = fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { maskedAnswer?: string });
      assert.deepEqual(lines.map((l) => l.maskedAnswer), ['host saw an image', 'host saw an image']);
    });

    it('the engine process can ask the host (engine → host request): bytes, streamed deltas and cancellation both ways', async () => {
      const { summary } = await client.request('attribute', params());
      const seen: Array<{ question: string; mime: string; png: boolean }> = [];
      let handlerStarted!: () => void;
      const started = new Promise<void>((r) => (handlerStarted = r));
      let handlerAborted!: () => void;
      const aborted = new Promise<void>((r) => (handlerAborted = r));
      client.handle('answer', async (p, { signal, progress }) => {
        seen.push({ question: p.question, mime: p.image!.mime, png: [...p.image!.bytes.subarray(0, 4)].join() === PNG_SIGNATURE.join() });
        if (p.question === 'wait') {
          handlerStarted();
          await new Promise<void>((_, reject) => signal.addEventListener('abort', () => (handlerAborted(), reject(new Error('aborted')))));
        }
        progress({ delta: 'a host ' });
        progress({ delta: 'answer' });
        return { text: 'a host answer', model: 'copilot-test', elapsedMs: 1 };
      });
      const ask = (question: string, signal?: AbortSignal, onProgress?: (p: { delta: string }) => void) =>
        client.request('answer', { attributionId: summary.attributionId, view, which: 'original', maxSide: 300, format: 'png', question, source: { kind: 'vscode' } }, { signal, onProgress });
      const deltas: string[] = [];
      const r = await ask('what is red?', undefined, (p) => deltas.push(p.delta));
      assert.deepEqual([r.text, r.model], ['a host answer', 'copilot-test']);
      assert.deepEqual(deltas, ['a host ', 'answer']);
      assert.deepEqual(seen, [{ question: 'what is red?', mime: 'image/png', png: true }]);
      // Cancelling the host's request to the engine cancels the engine's request to the host.
      const controller = new AbortController();
      const pending = ask('wait', controller.signal);
      await started;
      controller.abort();
      await assert.rejects(pending, { code: 'cancelled' });
      await aborted;
      assert.equal(await engineOutcome('answer'), 'cancelled');
    });
  });

  describe('the local vision-language model in the engine process', () => {
    const PLANTED_LLAVA = path.join(ROOT, 'test', 'fixtures', 'llava', 'planted-llava');
    const local = () => ({ model: PLANTED_LLAVA, cacheDir: path.join(dir, 'cache'), threads: 1 });

    it('aux lvlm: the LVLM map of the local model (its grid and layer), re-rendered for new contrast without another generation', async () => {
      // The fixture's own scene (64×64): the planted decoder looks at its red square (cells 1–3).
      const scene = path.join(ROOT, 'test', 'fixtures', 'llava', 'scene64.png');
      const r = await client.request('attribute', params({ imagePath: scene, question: 'where is the red square?', view: { ...view, aux: 'lvlm' }, local: local() }));
      assert.equal(r.summary.aux, 'lvlm');
      assert.deepEqual(r.summary.grid, [8, 8]);
      assert.deepEqual([r.summary.layer, r.summary.numLayers, r.summary.defaultLayer], [2, 4, 2]);
      assert.equal(r.summary.model, PLANTED_LLAVA);
      assert.equal(typeof r.summary.generatedText, 'string');
      const { data, info } = await sharp(r.images.masked).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
      assert.ok(at(20, 20)[0] > 200 && at(20, 20)[1] < 60, `red square kept: ${at(20, 20)}`);
      assert.ok(at(60, 4).every((v) => v < 60), `elsewhere faded to gray 0: ${at(60, 4)}`);
      const softer = await client.request('rerender', { attributionId: r.summary.attributionId, view: { ...view, aux: 'lvlm', contrast: 0.5 }, previewMaxSide: 300 });
      assert.notDeepEqual(Buffer.from(softer.images.masked), Buffer.from(r.images.masked));
      await assert.rejects(client.request('attribute', params({ view: { ...view, aux: 'lvlm' } })), { code: 'bad-parameter' });
    });

    it('source local: answers stream as deltas, and cancelling stops the generation', async () => {
      const { summary } = await client.request('attribute', params());
      const ask = (question: string, maxTokens: number, signal?: AbortSignal, onProgress?: (p: { delta: string }) => void) =>
        client.request('answer', { attributionId: summary.attributionId, view, which: 'masked', maxSide: 300, format: 'png', question, source: { kind: 'local', model: local(), maxTokens } }, { signal, onProgress });
      const deltas: string[] = [];
      const r = await ask('what is red?', 6, undefined, (p) => deltas.push(p.delta));
      assert.equal(r.model, PLANTED_LLAVA);
      assert.equal(r.finishReason, 'length');
      assert.ok(deltas.length >= 2 && deltas.join('').trim() === r.text, `${JSON.stringify(deltas)} vs ${JSON.stringify(r.text)}`);
      const controller = new AbortController();
      let streamed = 0;
      const long = ask('describe it at length', 100_000, controller.signal, () => {
        if (++streamed === 3) controller.abort();
      });
      await assert.rejects(long, { code: 'cancelled' });
      assert.equal(await engineOutcome('answer'), 'cancelled');
      // The model is free again.
      assert.equal((await ask('what is red?', 2)).finishReason, 'length');
    });
  });
});


describe('engine process: a model download its requests no longer wait for', () => {
  it('goes on while one request still waits, and stops (nothing partial kept) once every waiting request is cancelled', async () => {
    const hub = await startLocalHub({ 'fixtures/planted': fixtureModel('planted-clip') });
    // The vision file's first download sends 4 kB and then nothing (the stall timeout is a minute).
    hub.faults.push({ file: 'onnx/vision_model.onnx', dropAfterBytes: 4096, times: 1, stall: true });
    const cacheDir = tempDir();
    const dir = tempDir();
    const image = path.join(dir, 'scene.png');
    fs.writeFileSync(image, await rectangleImage(300, 200, 'red', { left: 200, top: 20, width: 80, height: 60 }));
    const client = new EngineClient({ scriptPath: path.join(ROOT, 'dist', 'engine.js'), idleMs: 0, log: () => undefined, env: { HF_ENDPOINT: hub.url.replace(/\/$/, '') } });
    const until = async (what: string, ok: () => boolean, ms = 15_000) => {
      for (const end = Date.now() + ms; !ok() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
      assert.ok(ok(), what);
    };
    const partials = () => fs.readdirSync(cacheDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.includes('vision_model'));
    try {
      const params: AttributeParams = { imagePath: image, question: 'red', model: { model: 'fixtures/planted', dtype: 'fp32', cacheDir, geometry: 'full', threads: 1 }, view, previewMaxSide: 300 };
      const [a, b] = [new AbortController(), new AbortController()];
      const first = client.request('attribute', params, { signal: a.signal });
      const second = client.request('attribute', params, { signal: b.signal });
      await until('the vision file download started', () => hub.requests.some((r) => r.method === 'GET' && r.path.endsWith('onnx/vision_model.onnx')));
      a.abort();
      await assert.rejects(first, { code: 'cancelled' });
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(hub.closedEarly, [], 'the second request still waits: the download goes on');
      b.abort();
      await assert.rejects(second, { code: 'cancelled' });
      // Before, the download stayed open until the one-minute stall timeout, whoever waited.
      await until('the download stopped once nobody waited', () => hub.closedEarly.includes('onnx/vision_model.onnx'));
      await until('no partial vision file kept', () => partials().length === 0);
      const r = await client.request('attribute', params);
      assert.deepEqual(r.summary.grid, [14, 14], 'the next request downloads it again and finishes');
      assert.ok(partials().some((f) => f.endsWith('vision_model.onnx')));
    } finally {
      client.dispose();
      await hub.close();
    }
  });
});
