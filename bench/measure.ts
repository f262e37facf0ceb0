/**
 * One measurement, in its own process so its peak RSS is its own. Run by bench/run.mjs:
 *   node dist/bench-measure.js <stock|ours|batch> '<json args>'
 * Prints one JSON line with the figures.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { runBatch } from '../src/core/batch/runner';
import { BATCH_SPIN_WAIT, TEXT_IDLE_RELEASE_MS, type Dtype } from '../src/core/defaults';
import { AttentionPromptEngine } from '../src/core/engine';
import { decodeImage, fromDecoded } from '../src/core/image';
import { clipInput } from '../src/core/modelInput';
import { renderOutputs } from '../src/core/render';
import { defaultThreads } from '../src/core/threads';
import { inside, rectangleImage } from '../test/helpers';
import { point, randomCases } from '../test/pointing';

interface Args {
  model: string;
  cacheDir?: string;
  imageSize?: number;
  n: number;
  batchImages?: number;
  images?: string[];
  jsonl?: string;
  outDir?: string;
  threads?: number;
  /** Vision and text weights of our engine (the stock yardstick is always fp32). */
  dtype?: Dtype;
  textDtype?: Dtype;
  questions?: string[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => performance.now();
const maxRssMb = () => process.resourceUsage().maxRSS / 1024;
const threads = (a: Args) => a.threads ?? defaultThreads();
const engineOptions = (a: Args) => ({ model: a.model, cacheDir: a.cacheDir, offline: true, threads: threads(a), visionDtype: a.dtype, textDtype: a.textDtype ?? a.dtype });

async function stock(a: Args) {
  const file = path.join(a.model, 'onnx', 'vision_model.onnx');
  let t = now();
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads(a), interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const createMs = now() - t;
  const s = a.imageSize!;
  const input = new ort.Tensor('float32', Float32Array.from({ length: 3 * s * s }, (_, i) => Math.sin(i) * 0.5), [1, 3, s, s]);
  t = now();
  await session.run({ pixel_values: input });
  const firstMs = now() - t;
  const times: number[] = [];
  for (let i = 0; i < a.n; i++) {
    t = now();
    await session.run({ pixel_values: input });
    times.push(now() - t);
  }
  t = now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < a.batchImages!; i++) await session.run({ pixel_values: input });
  const throughput = a.batchImages! / ((now() - t) / 1000);
  const used = process.cpuUsage(cpu);
  return { createMs, firstMs, forwardMs: median(times), throughput, cpuMsPerForward: (used.user + used.system) / 1000 / a.batchImages!, peakRssMb: maxRssMb() };
}

async function ours(a: Args) {
  let t = now();
  const engine = await AttentionPromptEngine.load({ ...engineOptions(a), expectQuestions: ['what is in the picture?'] });
  const loadMs = now() - t;
  const images = await Promise.all(a.images!.map((f) => decodeImage(f)));
  const heatmap = async (img: (typeof images)[number], question: string) => {
    const r = await engine.attribute(img, { question });
    const out = await renderOutputs(img, r.mask, r.grid, { interpolation: 'lanczos3', gray: 0 });
    await out.masked.raw().toBuffer();
    return r;
  };
  t = now();
  await heatmap(images[0], 'what is in the picture?');
  const firstHeatmapMs = now() - t;
  const coldToFirstMs = loadMs + firstHeatmapMs;
  const perImage: Record<string, { heatmapMs: number; visionMs: number; renderMs: number }> = {};
  for (const img of images) {
    const total: number[] = [];
    const vision: number[] = [];
    const render: number[] = [];
    await heatmap(img, 'what is in the picture?');
    for (let i = 0; i < a.n; i++) {
      const t0 = now();
      const r = await engine.attribute(img, { question: 'what is in the picture?' });
      const t1 = now();
      const out = await renderOutputs(img, r.mask, r.grid, { interpolation: 'lanczos3', gray: 0 });
      await out.masked.raw().toBuffer();
      total.push(now() - t0);
      vision.push(r.timings.vision);
      render.push(now() - t1);
    }
    perImage[`${img.width}x${img.height}`] = { heatmapMs: median(total), visionMs: median(vision), renderMs: median(render) };
  }
  // The peak so far is a one-shot's (the CLI's mask: its question embedded, the text model
  // released, then the vision session); what follows loads the text tower beside the vision
  // session, as a long-lived engine (the extension's) does for a new question.
  const heatmapPeakRssMb = rssNow().hwm;
  // A question this process (and the disk cache) has not seen: loads the text tower if needed.
  t = now();
  await engine.embedText(`a new question at ${Date.now()} ${Math.random()}`);
  const firstNewQuestionMs = now() - t;
  const textMs: number[] = [];
  for (let i = 0; i < Math.max(3, a.n); i++) {
    t = now();
    await engine.embedText(`a question about object number ${i} in the scene, ${process.pid}`);
    textMs.push(now() - t);
  }
  t = now();
  await engine.embedText(`a question about object number 0 in the scene, ${process.pid}`);
  const textHitMs = now() - t;
  const result = { loadMs, loadBreakdown: engine.loadTimings, firstHeatmapMs, coldToFirstMs, perImage, firstNewQuestionMs, textMs: median(textMs), textHitMs, heatmapPeakRssMb, textIdleReleaseMs: TEXT_IDLE_RELEASE_MS, peakRssMb: maxRssMb() };
  await engine.dispose();
  return result;
}

/**
 * The warm comparison without cross-process noise: a stock session and the engine in one
 * process, measured alternately (stock forward, then a full heatmap), medians of each.
 */
async function paired(a: Args) {
  const file = path.join(a.model, 'onnx', 'vision_model.onnx');
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads(a), interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const engine = await AttentionPromptEngine.load(engineOptions(a));
  const s = a.imageSize!;
  const input = new ort.Tensor('float32', Float32Array.from({ length: 3 * s * s }, (_, i) => Math.sin(i) * 0.5), [1, 3, s, s]);
  const img = await decodeImage(a.images![0]);
  const heatmap = async () => {
    const r = await engine.attribute(img, { question: 'what is in the picture?' });
    const out = await renderOutputs(img, r.mask, r.grid, { interpolation: 'lanczos3', gray: 0 });
    await out.masked.raw().toBuffer();
    return r.timings.vision;
  };
  await session.run({ pixel_values: input });
  await heatmap();
  const stockMs: number[] = [];
  const oursMs: number[] = [];
  const visionMs: number[] = [];
  for (let i = 0; i < a.n * 2; i++) {
    let t = now();
    await session.run({ pixel_values: input });
    stockMs.push(now() - t);
    t = now();
    visionMs.push(await heatmap());
    oursMs.push(now() - t);
  }
  await engine.dispose();
  return { stockForwardMs: median(stockMs), heatmapMs: median(oursMs), visionMs: median(visionMs) };
}

/** VmRSS / VmHWM of this process (MB), read from /proc (Linux; zeros elsewhere). */
function rssNow(): { rss: number; hwm: number } {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
    return { rss: Math.round(kb('VmRSS')), hwm: Math.round(kb('VmHWM')) };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/**
 * Where a cold start, a warm heatmap and the process's memory go: the engine's own stage
 * timings for the load, the first heatmap and a warm one (640×480, then the large image), with
 * VmRSS / VmHWM after each step.
 */
async function stages(a: Args) {
  const memory: Record<string, { rss: number; hwm: number }> = { start: rssNow() };
  let t = now();
  // A question of the caller's (e.g. one never asked before, to count the text tower in).
  const question = a.questions?.[0] ?? 'what is in the picture?';
  const engine = await AttentionPromptEngine.load({ ...engineOptions(a), expectQuestions: [question] });
  const loadMs = now() - t;
  memory.loaded = rssNow();
  const images = await Promise.all(a.images!.map((f) => decodeImage(f)));
  memory.decoded = rssNow();
  const heatmap = async (img: (typeof images)[number]) => {
    const t0 = now();
    const r = await engine.attribute(img, { question });
    const t1 = now();
    const out = await renderOutputs(img, r.mask, r.grid, { interpolation: 'lanczos3', gray: 0 });
    const t2 = now();
    await out.masked.raw().toBuffer();
    return { ...r.timings, attribute: t1 - t0, fullMask: t2 - t1, masked: now() - t2, total: now() - t0 };
  };
  const first = await heatmap(images[0]);
  memory.firstHeatmap = rssNow();
  const warm: Record<string, Record<string, number>> = {};
  for (const img of images) {
    const runs: Array<Record<string, number>> = [];
    for (let i = 0; i < a.n; i++) runs.push(await heatmap(img));
    warm[`${img.width}x${img.height}`] = Object.fromEntries(Object.keys(runs[0]).map((k) => [k, median(runs.map((r) => r[k]))]));
    memory[`after ${img.width}x${img.height}`] = rssNow();
  }
  const textTowerLoaded = engine.textTowerLoaded;
  await engine.dispose();
  memory.disposed = rssNow();
  return { loadMs, loadBreakdown: engine.loadTimings, textTowerLoaded, first, warm, memory };
}

async function batch(a: Args) {
  fs.rmSync(a.outDir!, { recursive: true, force: true });
  const t = now();
  // As the runner loads its own (questions embedded first, threads not spinning), then one
  // warm-up heatmap, as stock's throughput follows a warm-up forward: the rate is the steady one.
  const items = fs.readFileSync(a.jsonl!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { image: string; question: string });
  const engine = await AttentionPromptEngine.load({ ...engineOptions(a), spinWait: BATCH_SPIN_WAIT, expectQuestions: items.map((i) => i.question) });
  const loadMs = now() - t;
  const warmUp = await decodeImage(path.join(path.dirname(a.jsonl!), items[0].image));
  const r = await engine.attribute(warmUp, { question: items[0].question });
  await (await renderOutputs(warmUp, r.mask, r.grid, { interpolation: 'lanczos3', gray: 0 })).masked.jpeg().toBuffer();
  const cpu = process.cpuUsage();
  const summary = await runBatch({
    input: a.jsonl!,
    outDir: a.outDir!,
    engine: engineOptions(a),
    geometry: 'full',
    mask: { contrast: 5, kernel: 3 },
    interpolation: 'lanczos3',
    gray: 0,
    opacity: 0.5,
    concurrency: 4,
    resume: false,
  }, engine);
  const used = process.cpuUsage(cpu);
  // The floor's other half: the same engine's heatmaps alone (images decoded beforehand, nothing
  // rendered or written), one after another.
  const decoded = await Promise.all(items.map((i) => decodeImage(path.join(path.dirname(a.jsonl!), i.image))));
  const mapsStart = now();
  for (const [i, img] of decoded.entries()) await engine.attribute(img, { question: items[i].question });
  const mapsPerSecond = decoded.length / ((now() - mapsStart) / 1000);
  await engine.dispose();
  // Throughput over the processing itself (the summary's rate leaves the load out).
  // CPU time of the whole process (all threads) per image: less at the mercy of other load than wall time.
  return { totalMs: now() - t, loadMs, mapsPerSecond, imagesPerSecond: summary.imagesPerSecond, cpuMsPerImage: (used.user + used.system) / 1000 / summary.done, done: summary.done, failed: summary.failed, peakRssMb: maxRssMb() };
}

/**
 * Agreement with fp32 of the same model: for each image and question, the low-resolution mask of
 * the dtype against fp32's (Pearson, max |diff|, whether the argmax cell moves).
 */
async function fidelity(a: Args) {
  const fp32 = await AttentionPromptEngine.load({ ...engineOptions(a), visionDtype: 'fp32', textDtype: 'fp32' });
  const other = await AttentionPromptEngine.load(engineOptions(a));
  const images = await Promise.all(a.images!.map((f) => decodeImage(f)));
  const pearsons: number[] = [];
  let maxDiff = 0;
  let moved = 0;
  for (const img of images) {
    for (const question of a.questions!) {
      const x = (await fp32.attribute(img, { question })).mask;
      const y = (await other.attribute(img, { question })).mask;
      pearsons.push(pearson(x, y));
      for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
      if (argmaxOf(x) !== argmaxOf(y)) moved++;
    }
  }
  await fp32.dispose();
  await other.dispose();
  return { cases: pearsons.length, pearsonMean: pearsons.reduce((s, v) => s + v, 0) / pearsons.length, pearsonMin: Math.min(...pearsons), maxDiff, argmaxMoved: moved };
}

export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) (mx += x[i]), (my += y[i]);
  mx /= n;
  my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? (sxx === syy ? 1 : 0) : sxy / Math.sqrt(sxx * syy);
}

export function argmaxOf(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Planted pointing rate: random single-colour cases, hit when the full-resolution heatmap peaks inside the region. */
async function pointing(a: Args) {
  const engine = await AttentionPromptEngine.load(engineOptions(a));
  const cases = randomCases(97, a.n);
  let hits = 0;
  for (const c of cases) {
    const png = await rectangleImage(c.width, c.height, c.colour, c.region);
    const p = await point(engine, png, c.question, c.region);
    if (inside(c.region, p.x, p.y) && p.meanIn > p.meanOut + 0.3) hits++;
  }
  await engine.dispose();
  return { cases: cases.length, hits };
}

/**
 * Where the vision time goes: onnxruntime's own profile of the prepared block-L graph (the
 * engine's session options, profiling on), summed by operator type over n forwards.
 */
async function profile(a: Args) {
  const engine = await AttentionPromptEngine.load(engineOptions(a));
  const modelPath = engine.graph.modelPath;
  await engine.dispose();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ap-profile-'));
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads(a),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableProfiling: true,
    profileFilePrefix: path.join(dir, 'vision'),
  });
  const s = a.imageSize!;
  const input = new ort.Tensor('float32', Float32Array.from({ length: 3 * s * s }, (_, i) => Math.sin(i) * 0.5), [1, 3, s, s]);
  await session.run({ [session.inputNames[0]]: input });
  for (let i = 0; i < a.n; i++) await session.run({ [session.inputNames[0]]: input });
  (session as unknown as { endProfiling(): void }).endProfiling();
  await session.release();
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
  const events = JSON.parse(fs.readFileSync(path.join(dir, file!), 'utf8')) as Array<{ cat: string; name: string; dur: number; args?: { op_name?: string } }>;
  const byOp: Record<string, number> = {};
  let runs = 0;
  for (const e of events) {
    if (e.cat === 'Session' && e.name === 'model_run') runs++;
    if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name) byOp[e.args.op_name] = (byOp[e.args.op_name] ?? 0) + e.dur / 1000;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const perRun = Object.fromEntries(Object.entries(byOp).map(([k, v]) => [k, v / runs]).sort((x, y) => (y[1] as number) - (x[1] as number)));
  return { runs, msPerRunByOp: perRun };
}

/**
 * Layer changes (issue 8, item 4). `swap`: one engine, the previous layer's session released
 * before the next is created; `twoEngines`: the former behaviour, a second full engine for the
 * new layer while the first stays loaded. Each in its own process, so peak RSS is its own.
 */
async function layers(a: Args & { variant: 'swap' | 'twoEngines' }) {
  const img = await decodeImage(a.images![0]);
  const question = 'what is in the picture?';
  const engine = await AttentionPromptEngine.load(engineOptions(a));
  await engine.attribute(img, { question });
  const other = engine.layer - 1;
  let t = now();
  let second: AttentionPromptEngine | undefined;
  if (a.variant === 'swap') await engine.attribute(img, { question, layer: other });
  else {
    second = await AttentionPromptEngine.load({ ...engineOptions(a), layer: other });
    await second.attribute(img, { question });
  }
  const firstChangeMs = now() - t;
  t = now();
  await engine.attribute(img, { question });
  const backMs = now() - t;
  t = now();
  if (a.variant === 'swap') await engine.attribute(img, { question, layer: other });
  else await second!.attribute(img, { question });
  const againMs = now() - t;
  await second?.dispose();
  await engine.dispose();
  return { firstChangeMs, backMs, againMs, peakRssMb: maxRssMb() };
}

/**
 * The model-input resize of a large photo (issue 21): sharp's cubic (the former path) against
 * PIL's BICUBIC in modelInput.ts, on the same decoded image, alternated run by run.
 */
async function inputResize(a: Args) {
  const [width, height] = [4000, 3000];
  // Photo-like: smooth gradients with noise, so neither path meets a flat fast case.
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0, seed = 1; i < raw.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const p = Math.floor(i / 3);
    raw[i] = (((p % width) * 255) / width + ((Math.floor(p / width) * 255) / height) * (i % 3) + ((seed >>> 16) & 31)) & 255;
  }
  const jpeg = await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  const img = await decodeImage(jpeg);
  const out: Record<string, Record<string, number>> = {};
  for (const s of a.imageSize ? [a.imageSize] : [224, 336]) {
    // Wall time, and CPU time of the whole process (sharp's worker threads included).
    const times: Record<string, number[]> = {};
    const time = async (name: string, work: () => unknown) => {
      const t = now();
      const cpu = process.cpuUsage();
      await work();
      const used = process.cpuUsage(cpu);
      (times[`${name} wall`] ??= []).push(now() - t);
      (times[`${name} cpu`] ??= []).push((used.user + used.system) / 1000);
    };
    for (let i = 0; i < a.n; i++) {
      await time('sharpCubic', () => fromDecoded(img).resize(s, s, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer());
      await time('pilFull', () => clipInput(img, s, 'full'));
      await time('pilReference', () => clipInput(img, s, 'reference'));
    }
    out[`${width}x${height} -> ${s}`] = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.round(median(v) * 10) / 10]));
  }
  return out;
}

async function main() {
  const [mode, json] = process.argv.slice(2);
  const a = JSON.parse(json) as Args;
  const modes: Record<string, (a: Args) => Promise<unknown>> = { stock, ours, paired, stages, batch, inputResize, fidelity, pointing, profile, layers: (x) => layers(x as Args & { variant: 'swap' | 'twoEngines' }) };
  if (!modes[mode]) throw new Error(`unknown mode ${mode}`);
  const result = await modes[mode](a);
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});

void sharp;
