/**
 * The LVLM map and the local answers on the LLaVA-style fixtures (test/fixtures/generate_llava.py):
 * the map against the reference's formulas computed in PyTorch on the same weights
 * (reference-map.json), the KV-cache steps, the stopping rule, cancellation, the planted pointing,
 * loading errors, and the graph surgery.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeImage } from '../image';
import { indexOnnx } from '../onnx/onnxFile';
import { BufferSource } from '../onnx/protobuf';
import { ROOT, tempDir } from '../../../test/helpers';
import { OnnxNode } from '../onnx/onnxFile';
import { defaultLvlmLayer, findAttentionScores, prepareDecoder, resolveLvlmLayer } from './decoderGraph';
import { LocalVlm } from './localVlm';
import { LVLM_MAX_NEW_TOKENS, meanOfSteps, reviseMask, squareGrid, stepMap } from './decoderAttentionMap';
import { startLocalHub } from '../../../test/hub/server';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'llava');
const TINY = path.join(FIXTURES, 'tiny-llava');
const PLANTED = path.join(FIXTURES, 'planted-llava');
const QUESTION = 'what is the red square?';

interface Reference {
  prompt: string;
  layer: number;
  grid: [number, number];
  input_ids: number[];
  generated_ids: number[];
  steps: number;
  step_maps: number[][];
  raw: number[];
  mask: number[];
}
const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference-map.json'), 'utf8')) as Reference;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A copy of a fixture folder with edited JSON files (generation config, config). */
function editedCopy(src: string, edits: Record<string, (o: Record<string, unknown>) => void>): string {
  const dir = path.join(tempDir('ap-llava-'), path.basename(src));
  fs.cpSync(src, dir, { recursive: true });
  for (const [file, edit] of Object.entries(edits)) {
    const p = path.join(dir, file);
    const o = JSON.parse(fs.readFileSync(p, 'utf8')) as Record<string, unknown>;
    edit(o);
    fs.writeFileSync(p, JSON.stringify(o, null, 2));
  }
  return dir;
}

const open: LocalVlm[] = [];
function vlm(model: string, extra: Partial<ConstructorParameters<typeof LocalVlm>[0]> = {}): LocalVlm {
  const v = new LocalVlm({ model, cacheDir: tempDir('ap-llava-cache-'), offline: true, threads: 1, ...extra });
  open.push(v);
  return v;
}
after(async () => {
  for (const v of open) await v.dispose();
});

describe('LVLM map formulas (lvlmMap.ts)', () => {
  it('stepMap takes the last query row, soft-maxes over the image columns only, and averages heads', () => {
    // [1, 2 heads, 2 queries, 4 keys]; image tokens at keys 1 and 3.
    const s = [
      /* h0 q0 */ 9, 9, 9, 9, /* h0 q1 */ 100, 1, -50, 3,
      /* h1 q0 */ 9, 9, 9, 9, /* h1 q1 */ -7, 2, 80, 2,
    ];
    const m = stepMap(s, [1, 2, 2, 4], [1, 3]);
    const h0 = [Math.exp(1) / (Math.exp(1) + Math.exp(3)), Math.exp(3) / (Math.exp(1) + Math.exp(3))];
    const h1 = [0.5, 0.5];
    assert.ok(maxDiff(m, [(h0[0] + h1[0]) / 2, (h0[1] + h1[1]) / 2]) < 1e-12);
  });

  it('reviseMask is minmax → sigmoid contrast → box filter, and a constant map keeps the whole image', () => {
    const raw = Float64Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const { mask } = reviseMask(raw, 3, 3, { contrast: 5, kernel: 1 });
    // kernel 1: mask = sigmoid(5·(x − mean)/std) with x = raw/8, std unbiased
    const x = Array.from(raw, (v) => v / 8);
    const mean = x.reduce((a, b) => a + b) / 9;
    const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / 8);
    assert.ok(maxDiff(mask, x.map((v) => 1 / (1 + Math.exp((-5 * (v - mean)) / std)))) < 1e-12);
    const flat = reviseMask(new Float64Array(9).fill(0.3), 3, 3);
    assert.equal(flat.degenerate, true);
    assert.deepEqual(Array.from(flat.mask), new Array(9).fill(1));
  });

  it('the default layer is the reference’s relative depth, 20 of 32', () => {
    assert.equal(defaultLvlmLayer(32), 20);
    assert.equal(defaultLvlmLayer(40), 25);
    assert.equal(defaultLvlmLayer(24), 15);
    assert.equal(resolveLvlmLayer(-1, 4, 'm'), 3);
    assert.throws(() => resolveLvlmLayer(4, 4, 'm'), /out of range/);
    assert.equal(squareGrid(576), 24);
    assert.equal(squareGrid(577), undefined);
    assert.ok(maxDiff(meanOfSteps([Float64Array.from([1, 2]), Float64Array.from([3, 6])]), [2, 4]) < 1e-15);
  });
});

describe('decoder graph surgery (decoderGraph.ts)', () => {
  it('finds each layer’s self-attention softmax input in the fixture decoder', () => {
    const nodes = indexOnnx(new BufferSource(fs.readFileSync(path.join(TINY, 'onnx', 'decoder_model_merged.onnx')))).nodes;
    const found = findAttentionScores(nodes, 'tiny');
    assert.equal(found.numLayers, 4);
    assert.deepEqual([...found.scores.keys()].sort(), [0, 1, 2, 3]);
    assert.match(found.scores.get(2)!, /layers\.2\/self_attn\//);
  });

  it('refuses fused attention and older If-branch merged decoders with a clear message', () => {
    const node = (name: string, opType: string): OnnxNode => ({ name, opType, domain: '', inputs: ['x'], outputs: ['y'], range: [0, 0] });
    assert.throws(() => findAttentionScores([node('/model/layers.0/attn/GroupQueryAttention', 'GroupQueryAttention')], 'm'), /fused GroupQueryAttention/);
    assert.throws(() => findAttentionScores([node('optimum::if', 'If')], 'm'), /use_cache_branch/);
    assert.throws(() => findAttentionScores([node('/model/layers.0/mlp/Add', 'Add')], 'm'), /no "layers.N\/self_attn/);
  });

  it('the prepared decoder has one more output, the original graph untouched, and is reused from the cache', async () => {
    const cacheDir = tempDir();
    const source = path.join(TINY, 'onnx', 'decoder_model_merged.onnx');
    const before = fs.readFileSync(source);
    const p = await prepareDecoder({ sourcePath: source, cacheDir, modelName: 'tiny' });
    assert.equal(p.layer, 2);
    assert.equal(p.fromCache, false);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(p.modelPath);
    const original = await ort.InferenceSession.create(source);
    assert.deepEqual(session.outputNames, [...original.outputNames, p.scoresOutput]);
    assert.deepEqual(session.inputNames, original.inputNames);
    await session.release();
    await original.release();
    assert.ok(fs.readFileSync(source).equals(before));
    const again = await prepareDecoder({ sourcePath: source, cacheDir, modelName: 'tiny' });
    assert.equal(again.fromCache, true);
    assert.equal(again.modelPath, p.modelPath);
  });
});

describe('LVLM map on the tiny random LLaVA vs the reference computed in PyTorch', () => {
  it('matches the reference map: prompt, generated tokens, every KV-cache step, raw map and mask (≤ 1e-4)', async () => {
    const v = vlm(TINY);
    const image = await decodeImage(path.join(FIXTURES, 'scene48.png'));
    const deltas: string[] = [];
    const map = await v.lvlmMap({ image, question: QUESTION, onDelta: (d) => deltas.push(d) });
    assert.equal(map.layer, reference.layer);
    assert.deepEqual(map.grid, reference.grid);
    assert.deepEqual(map.generatedIds, reference.generated_ids);
    assert.equal(map.stopReason, 'eos');
    // One step per forward pass: the prefill's last position, then each generated token but the last.
    assert.equal(map.steps.length, reference.steps);
    map.steps.forEach((s, i) => assert.ok(maxDiff(s, reference.step_maps[i]) <= 1e-4, `step ${i}: ${maxDiff(s, reference.step_maps[i])}`));
    const rawDiff = maxDiff(map.raw, reference.raw);
    const maskDiff = maxDiff(map.mask, reference.mask);
    assert.ok(rawDiff <= 1e-4, `raw max |diff| ${rawDiff}`);
    assert.ok(maskDiff <= 1e-4, `mask max |diff| ${maskDiff}`);
    assert.equal(deltas.join('').trim(), map.text);
    assert.ok(map.text.length > 0);
  });

  it('stops after 20 new tokens when no EOS comes (MaxNewTokensCriteria), one step per forward pass', async () => {
    const never = 999;
    const dir = editedCopy(TINY, {
      'generation_config.json': (o) => (o.eos_token_id = never),
      'config.json': (o) => ((o.text_config as Record<string, unknown>).eos_token_id = never),
    });
    const map = await vlm(dir).lvlmMap({ image: await decodeImage(path.join(FIXTURES, 'scene48.png')), question: QUESTION });
    assert.equal(map.generatedIds.length, LVLM_MAX_NEW_TOKENS);
    assert.equal(map.steps.length, LVLM_MAX_NEW_TOKENS);
    assert.equal(map.stopReason, 'length');
    // The first steps are the reference's (same prefix of the same greedy decoding).
    assert.deepEqual(map.generatedIds.slice(0, reference.generated_ids.length - 1), reference.generated_ids.slice(0, -1));
    for (let i = 0; i < reference.steps - 1; i++) assert.ok(maxDiff(map.steps[i], reference.step_maps[i]) <= 1e-4);
  });

  it('stops right after the EOS token: an earlier EOS means fewer steps, the same prefix', async () => {
    const eos = reference.generated_ids[2];
    const dir = editedCopy(TINY, {
      'generation_config.json': (o) => (o.eos_token_id = eos),
      'config.json': (o) => ((o.text_config as Record<string, unknown>).eos_token_id = eos),
    });
    const map = await vlm(dir).lvlmMap({ image: await decodeImage(path.join(FIXTURES, 'scene48.png')), question: QUESTION });
    assert.deepEqual(map.generatedIds, reference.generated_ids.slice(0, 3));
    assert.equal(map.steps.length, 3);
    assert.equal(map.stopReason, 'eos');
    const expected = meanOfSteps(reference.step_maps.slice(0, 3).map((s) => Float64Array.from(s)));
    assert.ok(maxDiff(map.raw, expected) <= 1e-4);
  });

  it('cancels mid-generation, then the same model still gives the reference map', async () => {
    const v = vlm(TINY);
    const image = await decodeImage(path.join(FIXTURES, 'scene48.png'));
    const controller = new AbortController();
    let tokens = 0;
    await assert.rejects(
      v.lvlmMap({
        image,
        question: QUESTION,
        signal: controller.signal,
        onDelta: () => {
          if (++tokens === 2) controller.abort();
        },
      }),
      (e: Error & { code?: string }) => e.code === 'cancelled',
    );
    assert.equal(tokens, 2, 'no token streams after the abort');
    const map = await v.lvlmMap({ image, question: QUESTION });
    assert.ok(maxDiff(map.raw, reference.raw) <= 1e-4);
  });
});

describe('LVLM map pointing on the planted LLaVA', () => {
  it('the decoder attends to the red square, so the mask is high there and low elsewhere', async () => {
    const v = vlm(PLANTED);
    const map = await v.lvlmMap({ image: await decodeImage(path.join(FIXTURES, 'scene64.png')), question: 'where is the red square?' });
    assert.deepEqual(map.grid, [8, 8]);
    // scene64.png: red square on pixels [8, 32)² = grid cells rows/cols 1…3 (8-px cells).
    const red = new Set<number>();
    for (let r = 1; r <= 3; r++) for (let c = 1; c <= 3; c++) red.add(r * 8 + c);
    const order = [...map.raw.keys()].sort((a, b) => map.raw[b] - map.raw[a]);
    assert.deepEqual(new Set(order.slice(0, 9)), red, 'the 9 strongest cells are the red ones');
    let inside = 0;
    for (const i of red) inside += map.mask[i] / red.size;
    assert.ok(inside > 0.6, `mean mask on the red square ${inside}`);
    // Outside the square the raw map is ~0: after the contrast step those cells sit at the sigmoid's floor
    // (≈ 0.12 here), and the box filter only spreads the square one cell outwards.
    const centre = 2 * 8 + 2;
    assert.equal(Math.max(...map.mask), map.mask[centre]);
    for (let r = 5; r < 8; r++) for (let c = 0; c < 8; c++) assert.ok(map.mask[r * 8 + c] < 0.15, `far cell ${r},${c}: ${map.mask[r * 8 + c]}`);
  });
});

describe('LVLM map geometry', () => {
  it('full squashes the whole image onto the grid; reference pads it to a square first (LLaVA-1.5 expand2square)', async () => {
    // 128×64, a red band over the left quarter, full height.
    const png = await sharp({ create: { width: 128, height: 64, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .composite([{ input: await sharp({ create: { width: 32, height: 64, channels: 3, background: { r: 230, g: 20, b: 20 } } }).png().toBuffer(), left: 0, top: 0 }])
      .png()
      .toBuffer();
    const image = await decodeImage(png);
    const v = vlm(PLANTED);
    const strongest = (raw: Float64Array) => new Set([...raw.keys()].filter((i) => raw[i] > 0.5 * Math.max(...raw)));
    const cells = (rows: number[], cols: number[]) => new Set(rows.flatMap((r) => cols.map((c) => r * 8 + c)));
    const full = await v.lvlmMap({ image, question: 'where is the red band?', geometry: 'full' });
    assert.deepEqual(strongest(full.raw), cells([0, 1, 2, 3, 4, 5, 6, 7], [0, 1]));
    // Padded to 128×128 (32 rows of mean colour above and below): the band covers grid rows 2…5.
    const ref = await v.lvlmMap({ image, question: 'where is the red band?', geometry: 'reference' });
    assert.deepEqual(strongest(ref.raw), cells([2, 3, 4, 5], [0, 1]));
  });
});

describe('local answers (AnswerProvider "local")', () => {
  it('streams the greedy answer for the image and question, offline from a folder', async () => {
    const v = vlm(TINY, { maxNewTokens: 64 });
    const deltas: string[] = [];
    const result = await v.answer({
      question: QUESTION,
      image: { bytes: fs.readFileSync(path.join(FIXTURES, 'scene48.png')), mime: 'image/png' },
      onDelta: (d) => deltas.push(d),
    });
    assert.equal(v.kind, 'local');
    assert.equal(result.finishReason, 'stop');
    assert.ok(deltas.length >= 2, 'several deltas');
    assert.equal(deltas.join('').trim(), result.text);
    // Same greedy decoding as the map's (the image is already the processor's size).
    const map = await v.lvlmMap({ image: await decodeImage(path.join(FIXTURES, 'scene48.png')), question: QUESTION });
    assert.equal(result.text, map.text);
  });

  it('uses the model’s chat template (tokenizer_config.json, or llava-hf’s chat_template.json) when it has one', async () => {
    const template = (lead: string) => `${lead} {% for m in messages %}USER: <image>\n{{ m['content'][1]['text'] }}{% endfor %} ASSISTANT:`;
    const image = await decodeImage(path.join(FIXTURES, 'scene48.png'));
    const viaTokenizer = editedCopy(TINY, { 'tokenizer_config.json': (o) => (o.chat_template = template('what')) });
    const viaJson = editedCopy(TINY, {});
    fs.writeFileSync(path.join(viaJson, 'chat_template.json'), JSON.stringify({ chat_template: template('which') }));
    // The built-in prompt's ids with the template's leading word after <s> (fixture ids: what 13, which 15).
    const expected = (word: number) => [reference.input_ids[0], word, ...reference.input_ids.slice(1)];
    assert.deepEqual((await vlm(viaTokenizer).lvlmMap({ image, question: QUESTION })).promptIds, expected(13));
    assert.deepEqual((await vlm(viaJson).lvlmMap({ image, question: QUESTION })).promptIds, expected(15));
    assert.deepEqual((await vlm(TINY).lvlmMap({ image, question: QUESTION })).promptIds, reference.input_ids);
  });

  it('a question over 4000 characters is refused, as CLIP’s is (a 6000-word one took 5 GB)', { timeout: 30_000 }, async () => {
    const image = await decodeImage(path.join(FIXTURES, 'scene48.png'));
    const v = vlm(TINY);
    // One character over the limit first (before the fix it ran; the 6000 words would take gigabytes).
    const justOver = 'red '.repeat(1000) + 'x';
    await assert.rejects(v.lvlmMap({ image, question: justOver }), { code: 'bad-query', message: /The question is 4001 characters long; the limit is 4000/ });
    const long = Array.from({ length: 6000 }, (_, i) => ['red', 'square', 'what', 'is'][i % 4]).join(' ');
    await assert.rejects(v.lvlmMap({ image, question: long }), { code: 'bad-query', message: new RegExp(`The question is ${long.length} characters long; the limit is 4000`) });
    await assert.rejects(v.answer({ question: long, image: { bytes: fs.readFileSync(path.join(FIXTURES, 'scene48.png')), mime: 'image/png' } }), { code: 'bad-query' });
  });

  it('a prompt that fills the model’s context is refused before generating, naming its length and the context', { timeout: 30_000 }, async () => {
    // Under 4000 characters, but more tokens than the fixture's 512-token context.
    const question = Array.from({ length: 700 }, () => 'red').join(' ');
    const image = await decodeImage(path.join(FIXTURES, 'scene48.png'));
    await assert.rejects(vlm(TINY).lvlmMap({ image, question }), { code: 'bad-query', message: /The prompt is \d+ tokens .*holds 512 in all, answer included/ });
  });

  it('maxTokens beyond the context (1e9) generates no further than the context, and says the answer was cut', { timeout: 60_000 }, async () => {
    // An EOS that never comes: before, generation ran on past the model's 512 positions towards 1e9 tokens.
    const dir = editedCopy(TINY, { 'generation_config.json': (o) => (o.eos_token_id = 999) });
    const v = vlm(dir);
    let prompt = 0;
    const original = (v as unknown as { generate: (...a: unknown[]) => Promise<{ ids: number[] }> }).generate.bind(v);
    let generated = 0;
    (v as unknown as { generate: unknown }).generate = async (...a: unknown[]) => {
      const onPrompt = a[6] as ((ids: number[]) => void) | undefined;
      a[6] = (ids: number[]) => ((prompt = ids.length), onPrompt?.(ids));
      const run = await original(...a);
      generated = run.ids.length;
      return run;
    };
    const result = await v.answer({ question: QUESTION, maxTokens: 1e9, image: { bytes: fs.readFileSync(path.join(FIXTURES, 'scene48.png')), mime: 'image/png' } });
    assert.equal(result.finishReason, 'length');
    assert.ok(prompt > 0 && generated > 0);
    assert.equal(prompt + generated, 512, `prompt ${prompt} + answer ${generated} tokens fill the 512-token context exactly`);
  });

  it('a chat template that would run long is stopped, saying so (range(3000000) ran 24 s and took 0.9 GB)', { timeout: 20_000 }, async () => {
    const slow = editedCopy(TINY, { 'tokenizer_config.json': (o) => (o.chat_template = "{% for i in range(3000000) %}{% endfor %}{% for m in messages %}USER: <image>\n{{ m['content'][1]['text'] }}{% endfor %} ASSISTANT:") });
    const image = await decodeImage(path.join(FIXTURES, 'scene48.png'));
    const t0 = Date.now();
    await assert.rejects(vlm(slow).lvlmMap({ image, question: QUESTION }), { code: 'model-structure', message: /chat template of .* (did not finish rendering within 2 s|needed more than 64 MB to render)/ });
    console.log(`template refused after ${Date.now() - t0} ms`);
  });

  it('caps the answer at maxNewTokens and reports it as incomplete', async () => {
    const never = 999;
    const dir = editedCopy(TINY, { 'generation_config.json': (o) => (o.eos_token_id = never) });
    const result = await vlm(dir, { maxNewTokens: 5 }).answer({
      question: QUESTION,
      image: { bytes: fs.readFileSync(path.join(FIXTURES, 'scene48.png')), mime: 'image/png' },
    });
    assert.equal(result.finishReason, 'length');
    assert.equal(result.incomplete, true);
    assert.equal(result.text.split(' ').length <= 5, true);
  });

  it('answers a text-only request (no image: the tokenizer alone, no vision encoder)', async () => {
    const result = await vlm(TINY).answer({ question: 'what is a red square?', maxTokens: 4 });
    assert.ok(result.text.length > 0);
    assert.ok(['stop', 'length'].includes(result.finishReason ?? ''));
  });

  it('cancels an answer mid-generation', async () => {
    const controller = new AbortController();
    let n = 0;
    await assert.rejects(
      vlm(TINY).answer({
        question: QUESTION,
        image: { bytes: fs.readFileSync(path.join(FIXTURES, 'scene48.png')), mime: 'image/png' },
        signal: controller.signal,
        onDelta: () => ++n === 1 && controller.abort(),
      }),
      (e: Error & { code?: string }) => e.code === 'cancelled',
    );
    assert.equal(n, 1);
  });
});

describe('loading errors', () => {
  it('a missing folder, or a folder without the decoder, says which file', () => {
    assert.throws(() => new LocalVlm({ model: path.join(tempDir(), 'nope') }), (e: Error & { code?: string }) => e.code === 'model-missing' && /not found/.test(e.message));
    const dir = editedCopy(TINY, {});
    fs.rmSync(path.join(dir, 'onnx', 'decoder_model_merged.onnx'));
    assert.throws(() => new LocalVlm({ model: dir }), /has no onnx\/decoder_model_merged\.onnx/);
  });

  it('offline, a hub id that is not cached names the missing file', () => {
    assert.throws(
      () => new LocalVlm({ model: 'someone/llava-model', cacheDir: tempDir(), offline: true }),
      (e: Error & { code?: string }) => e.code === 'offline-missing' && /missing config\.json/.test(e.message),
    );
  });

  it('offline, a hub id whose files are in the cache loads without the network', async () => {
    const cacheDir = tempDir();
    fs.cpSync(TINY, path.join(cacheDir, 'fixtures', 'tiny-llava'), { recursive: true });
    const v = new LocalVlm({ model: 'fixtures/tiny-llava', cacheDir, offline: true, threads: 1, remoteHost: 'http://127.0.0.1:9/' });
    open.push(v);
    const map = await v.lvlmMap({ image: await decodeImage(path.join(FIXTURES, 'scene48.png')), question: QUESTION });
    assert.ok(maxDiff(map.raw, reference.raw) <= 1e-4);
  });

  it('a hub id downloads on first use into the model cache, then loads offline with no request', async () => {
    const hub = await startLocalHub({ 'fixtures/tiny-llava': TINY });
    try {
      const cacheDir = tempDir();
      const files: string[] = [];
      const online = new LocalVlm({ model: 'fixtures/tiny-llava', cacheDir, remoteHost: hub.url, threads: 1, onProgress: (p) => p.status === 'done' && files.push(p.file) });
      open.push(online);
      const first = await online.lvlmMap({ image: await decodeImage(path.join(FIXTURES, 'scene48.png')), question: QUESTION });
      assert.ok(maxDiff(first.raw, reference.raw) <= 1e-4);
      for (const f of ['onnx/vision_encoder.onnx', 'onnx/embed_tokens.onnx', 'onnx/decoder_model_merged.onnx']) {
        assert.ok(fs.existsSync(path.join(cacheDir, 'fixtures', 'tiny-llava', f)), `${f} cached`);
      }
      assert.ok(files.includes('onnx/decoder_model_merged.onnx'), 'download progress reported');
      const served = hub.requests.length;
      const offline = new LocalVlm({ model: 'fixtures/tiny-llava', cacheDir, remoteHost: hub.url, offline: true, threads: 1 });
      open.push(offline);
      const again = await offline.lvlmMap({ image: await decodeImage(path.join(FIXTURES, 'scene48.png')), question: QUESTION });
      assert.ok(maxDiff(again.raw, reference.raw) <= 1e-4);
      assert.equal(hub.requests.length, served, 'offline: no request');
    } finally {
      await hub.close();
    }
  });

  it('refuses an unsupported model type, and tiling models for the map', async () => {
    const clipLike = editedCopy(TINY, { 'config.json': (o) => (o.model_type = 'clip') });
    await assert.rejects(vlm(clipLike).answer({ question: 'q', image: { bytes: fs.readFileSync(path.join(FIXTURES, 'scene48.png')), mime: 'image/png' } }), /is a clip model/);
    const tiling = editedCopy(TINY, { 'config.json': (o) => (o.model_type = 'llava_onevision') });
    await assert.rejects(
      vlm(tiling).lvlmMap({ image: await decodeImage(path.join(FIXTURES, 'scene48.png')), question: QUESTION }),
      /tiles of an any-resolution scheme/,
    );
  });
});
