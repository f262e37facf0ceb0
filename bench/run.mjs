// `npm run bench`: the heatmap against a stock CLIP image forward, on full-size random-weight
// exports of ViT-B/16 and ViT-L/14-336 made by the project's fixture generator (cached outside the
// repository). Each measurement runs in its own process (peak RSS is per process). Prints one
// table with absolute figures and ratios and writes BENCHMARKS.md. No assertions on time: the
// targets are reported as met or missed.
// Then each reduced-precision dtype (q8, int8, uint8, q4, q4f16, bnb4, fp16) of the same exports
// against the fp32 stock forward of the same run, with its agreement with fp32, and the same
// agreement (plus planted pointing) on the committed fixtures.
// Usage: node bench/run.mjs [--models b16,l14-336] [--n 5] [--dtypes fp16,q8,…] [--skip-fp32]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { benchCacheDir } from './cacheDir.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arg = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const models = arg('--models', 'b16,l14-336').split(',');
const n = Number(arg('--n', '5'));
const DTYPES = ['fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'];
const dtypes = arg('--dtypes', DTYPES.join(',')).split(',').filter(Boolean);
const suffix = { fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16', bnb4: '_bnb4' };
const towerFile = (dir, tower, dtype) => path.join(dir, 'onnx', `${tower}_model${suffix[dtype]}.onnx`);
const cache = benchCacheDir;
const MODELS = {
  b16: { name: 'clip-vit-b16-random', label: 'ViT-B/16', imageSize: 224 },
  'l14-336': { name: 'clip-vit-l14-336-random', label: 'ViT-L/14-336', imageSize: 336 },
};
fs.mkdirSync(cache, { recursive: true });
const log = (...a) => process.stderr.write(`[bench] ${a.join(' ')}\n`);

function ensureModel(key) {
  const m = MODELS[key];
  const dir = path.join(cache, 'models', m.name);
  if (!['fp32', ...dtypes].every((d) => fs.existsSync(towerFile(dir, 'vision', d)) && fs.existsSync(towerFile(dir, 'text', d)))) {
    log(`generating ${m.label} (random weights, real shapes; ${['fp32', ...dtypes].join(', ')}) with test/fixtures/generate.py …`);
    const r = spawnSync(process.env.PYTHON ?? '/usr/bin/python3', [path.join(root, 'test/fixtures/generate.py'), path.join(cache, 'models'), '--shapes', key, '--name', m.name, '--dtypes', dtypes.join(','), '--reuse'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error('generator failed (needs python3-torch and python3-onnx)');
  }
  return dir;
}

/** A photo-like image: smooth gradients, a few shapes, noise; JPEG. */
async function photo(file, width, height) {
  if (fs.existsSync(file)) return file;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#4a78a8"/><stop offset="1" stop-color="#d9b36c"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/><circle cx="${width * 0.3}" cy="${height * 0.4}" r="${height * 0.2}" fill="#c0392b"/><rect x="${width * 0.55}" y="${height * 0.5}" width="${width * 0.3}" height="${height * 0.3}" fill="#27ae60"/></svg>`;
  const noise = await sharp({ create: { width, height, channels: 3, noise: { type: 'gaussian', mean: 0, sigma: 12 } } }).png().toBuffer();
  await sharp(Buffer.from(svg)).composite([{ input: noise, blend: 'overlay' }]).jpeg({ quality: 90 }).toFile(file);
  return file;
}

function measure(mode, args) {
  const r = spawnSync(process.execPath, ['--max-old-space-size=8192', path.join(root, 'dist', 'bench-measure.js'), mode, JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const images = [await photo(path.join(cache, 'photo-640x480.jpg'), 640, 480), await photo(path.join(cache, 'photo-4000x3000.jpg'), 4000, 3000)];
const batchDir = path.join(cache, 'batch-input');
fs.mkdirSync(batchDir, { recursive: true });
const questions = ['what is the red object?', 'is there anything green?', 'describe the background', 'how many shapes are there?'];
const jsonl = path.join(batchDir, 'items.jsonl');
const lines = [];
for (let i = 0; i < 32; i++) {
  const f = await photo(path.join(batchDir, `img${String(i).padStart(2, '0')}.jpg`), 640 - (i % 4) * 16, 480 - (i % 3) * 12);
  lines.push(JSON.stringify({ id: `img${i}`, image: path.basename(f), question: questions[i % 4] }));
}
fs.writeFileSync(jsonl, lines.join('\n') + '\n');

const results = [];
const skipFp32 = process.argv.includes('--skip-fp32');
const previous = skipFp32 && fs.existsSync(path.join(cache, 'fp32-results.json')) ? JSON.parse(fs.readFileSync(path.join(cache, 'fp32-results.json'), 'utf8')) : {};
const fidelityImages = [images[0], ...lines.slice(0, 3).map((l) => path.join(batchDir, JSON.parse(l).image))];
for (const key of models) {
  const m = MODELS[key];
  const dir = ensureModel(key);
  const prepared = path.join(cache, `prepared-${key}`);
  let r = previous[key];
  if (!r) {
    fs.rmSync(prepared, { recursive: true, force: true });
    log(`${m.label}: stock`);
    const stock = measure('stock', { model: dir, imageSize: m.imageSize, n, batchImages: 32 });
    log(`${m.label}: ours, cold (graph preparation included)`);
    const cold = measure('ours', { model: dir, cacheDir: prepared, n, images });
    log(`${m.label}: ours, second start`);
    const warm = measure('ours', { model: dir, cacheDir: prepared, n, images });
    log(`${m.label}: paired warm comparison (one process, alternating)`);
    const pair = measure('paired', { model: dir, cacheDir: prepared, n, images, imageSize: m.imageSize });
    log(`${m.label}: batch of 32 with 4 questions`);
    const batch = measure('batch', { model: dir, cacheDir: prepared, n, jsonl, outDir: path.join(cache, `batch-out-${key}`) });
    r = { key, label: m.label, stock, cold, warm, batch, pair };
  }
  r.dtypes = {};
  for (const dtype of dtypes) {
    const dtCache = path.join(cache, `prepared-${key}-${dtype}`);
    fs.rmSync(dtCache, { recursive: true, force: true });
    log(`${m.label} ${dtype}: paired with the fp32 stock forward`);
    const pair = measure('paired', { model: dir, cacheDir: dtCache, n, images, imageSize: m.imageSize, dtype });
    log(`${m.label} ${dtype}: cold start`);
    fs.rmSync(dtCache, { recursive: true, force: true });
    const cold = measure('ours', { model: dir, cacheDir: dtCache, n, images, dtype });
    log(`${m.label} ${dtype}: batch`);
    const batch = measure('batch', { model: dir, cacheDir: dtCache, n, jsonl, outDir: path.join(cache, `batch-out-${key}-${dtype}`), dtype });
    log(`${m.label} ${dtype}: agreement with fp32`);
    const fid = measure('fidelity', { model: dir, cacheDir: dtCache, images: fidelityImages, questions, dtype });
    log(`${m.label} ${dtype}: onnxruntime profile`);
    const prof = measure('profile', { model: dir, cacheDir: dtCache, imageSize: m.imageSize, n: 3, dtype });
    const size = (t) => fs.statSync(towerFile(dir, t, dtype)).size;
    r.dtypes[dtype] = { pair, cold, batch, fid, prof, visionBytes: size('vision'), textBytes: size('text') };
  }
  log(`${m.label}: layer changes (one engine swapping its session / a second engine)`);
  r.layerSwap = measure('layers', { model: dir, cacheDir: prepared, images, variant: 'swap' });
  r.layerTwo = measure('layers', { model: dir, cacheDir: prepared, images, variant: 'twoEngines' });
  if (dtypes.length) {
    log(`${m.label} fp32: onnxruntime profile`);
    r.fp32Profile = measure('profile', { model: dir, cacheDir: prepared, imageSize: m.imageSize, n: 3 });
  }
  r.fp32Bytes = { vision: fs.statSync(towerFile(dir, 'vision', 'fp32')).size, text: fs.statSync(towerFile(dir, 'text', 'fp32')).size };
  results.push(r);
}
if (!skipFp32) fs.writeFileSync(path.join(cache, 'fp32-results.json'), JSON.stringify(Object.fromEntries(results.map((r) => [r.key, { ...r, dtypes: undefined }]))));

// Agreement on the committed fixtures (fast): every dtype each fixture has, against its fp32.
const fixtureRows = [];
for (const fixture of ['tiny-clip', 'tiny-clip-opset17', 'planted-clip', 'planted-clip-opset17']) {
  const dir = path.join(root, 'test', 'fixtures', 'models', fixture);
  for (const dtype of ['fp32', ...DTYPES]) {
    if (!fs.existsSync(towerFile(dir, 'vision', dtype))) continue;
    const textDtype = fs.existsSync(towerFile(dir, 'text', dtype)) ? dtype : 'q8';
    log(`fixture ${fixture} ${dtype}`);
    const fixtureCache = path.join(cache, 'prepared-fixtures');
    const fid = dtype === 'fp32' ? undefined : measure('fidelity', { model: dir, cacheDir: fixtureCache, images: fidelityImages, questions: fixture.startsWith('planted') ? ['red', 'where is the green box?', 'blue', 'something yellow'] : questions, dtype, textDtype });
    const pointed = fixture.startsWith('planted') ? measure('pointing', { model: dir, cacheDir: fixtureCache, n: 60, dtype, textDtype }) : undefined;
    fixtureRows.push({ fixture, dtype, textDtype, fid, pointed });
  }
}

const f0 = (x) => x.toFixed(0);
const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);
const rows = [];
const ratios = [];
for (const r of results) {
  const stockFirst = r.stock.createMs + r.stock.firstMs;
  const small = r.warm.perImage['640x480'];
  const large = r.warm.perImage['4000x3000'];
  // One-shot heatmaps (the CLI's mask: question embedded, text model released, then the vision
  // session) and the batch; apart, a long-lived engine's new question (both towers resident).
  const peakOurs = Math.max(r.cold.heatmapPeakRssMb, r.warm.heatmapPeakRssMb, r.batch.peakRssMb);
  const peakBoth = Math.max(r.cold.peakRssMb, r.warm.peakRssMb);
  rows.push(
    [r.label, 'stock image forward (median)', `${f0(r.stock.forwardMs)} ms`, ''],
    [r.label, 'heatmap 640×480 → full-res mask + masked (median)', `${f0(small.heatmapMs)} ms`, `vision ${f0(small.visionMs)} ms, render ${f0(small.renderMs)} ms`],
    [r.label, 'heatmap 4000×3000 → full-res mask + masked (median)', `${f0(large.heatmapMs)} ms`, `vision ${f0(large.visionMs)} ms, render ${f0(large.renderMs)} ms`],
    [r.label, 'paired, one process: stock forward / heatmap 640×480 (median)', `${f0(r.pair.stockForwardMs)} / ${f0(r.pair.heatmapMs)} ms`, `vision ${f0(r.pair.visionMs)} ms; alternating runs, no cross-process noise`],
    [r.label, 'stock session creation / + first forward', `${f0(r.stock.createMs)} / ${f0(stockFirst)} ms`, ''],
    [r.label, 'ours cold: load (prepare graph + sessions) / first heatmap', `${f0(r.cold.loadMs)} / ${f0(r.cold.coldToFirstMs)} ms`, Object.entries(r.cold.loadBreakdown).map(([k, v]) => `${k} ${f0(v)}`).join(', ')],
    [r.label, 'ours second start: load / first heatmap', `${f0(r.warm.loadMs)} / ${f0(r.warm.coldToFirstMs)} ms`, Object.entries(r.warm.loadBreakdown).map(([k, v]) => `${k} ${f0(v)}`).join(', ')],
    [r.label, 'text: first new question (loads the text tower) / new query, tower loaded / cache hit', `${f0(r.warm.firstNewQuestionMs)} / ${f1(r.warm.textMs)} / ${f2(r.warm.textHitMs)} ms`, 'embeddings persist on disk per text model'],
    [r.label, 'throughput: stock forward / batch (32 images, 4 questions, --no-vlm)', `${f2(r.stock.throughput)} / ${f2(r.batch.imagesPerSecond)} img/s`, `batch includes decode, heatmap, writing masked, overlay, thumbnails; the same heatmaps alone ${f2(r.batch.mapsPerSecond)} img/s; CPU per image ${f0(r.batch.cpuMsPerImage)} ms (stock ${f0(r.stock.cpuMsPerForward)} ms)`],
    [r.label, 'peak RSS: stock / ours (max of cold, second start, batch)', `${f0(r.stock.peakRssMb)} / ${f0(peakOurs)} MB`, `cold ${f0(r.cold.heatmapPeakRssMb)}, second start ${f0(r.warm.heatmapPeakRssMb)}, batch ${f0(r.batch.peakRssMb)}; the text model is released before the vision session loads`],
    [r.label, 'peak RSS: ours with both towers resident (a long-lived engine asked a new question)', `${f0(peakBoth)} MB`, `cold ${f0(r.cold.peakRssMb)}, second start ${f0(r.warm.peakRssMb)}; a long-lived engine keeps the text model ${f0(r.cold.textIdleReleaseMs / 1000)} s after its last new question`],
  );
  ratios.push(
    [r.label, 'warm heatmap (640×480) / stock forward, paired in one process', r.pair.heatmapMs / r.pair.stockForwardMs, '≤ 1.00', r.pair.heatmapMs / r.pair.stockForwardMs <= 1.0],
    [r.label, 'warm heatmap (640×480) / stock forward, separate processes', small.heatmapMs / r.stock.forwardMs, '≤ 1.00', small.heatmapMs / r.stock.forwardMs <= 1.0],
    [r.label, 'cold first heatmap / stock creation + first forward', r.cold.coldToFirstMs / stockFirst, '≤ 1.30', r.cold.coldToFirstMs / stockFirst <= 1.3],
    [r.label, 'second start first heatmap / stock creation + first forward', r.warm.coldToFirstMs / stockFirst, '≤ 1.05', r.warm.coldToFirstMs / stockFirst <= 1.05],
    [r.label, 'peak RSS ours / stock', peakOurs / r.stock.peakRssMb, '≤ 1.25', peakOurs / r.stock.peakRssMb <= 1.25],
    [r.label, 'peak RSS with both towers resident / stock', peakBoth / r.stock.peakRssMb, '≤ 1.25', peakBoth / r.stock.peakRssMb <= 1.25],
    [r.label, 'batch throughput / stock forward throughput', r.batch.imagesPerSecond / r.stock.throughput, '≥ 0.95', r.batch.imagesPerSecond / r.stock.throughput >= 0.95],
  );
}
const mb = (b) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(0)} MB`);
const dtypeRows = [];
const dtypeTargets = [];
for (const r of results) {
  const entries = [['fp32', { pair: r.pair, cold: r.cold, batch: r.batch, visionBytes: r.fp32Bytes.vision, textBytes: r.fp32Bytes.text }], ...Object.entries(r.dtypes)];
  for (const [dtype, d] of entries) {
    const ratio = d.pair.heatmapMs / d.pair.stockForwardMs;
    const fid = d.fid ? `${d.fid.pearsonMean.toFixed(4)} / ${d.fid.pearsonMin.toFixed(4)}` : '1 (reference)';
    dtypeRows.push([
      r.label, dtype, `${mb(d.visionBytes + d.textBytes)} (${mb(d.visionBytes)} + ${mb(d.textBytes)})`,
      `${f0(d.pair.heatmapMs)} / ${f0(d.pair.stockForwardMs)} ms`, ratio.toFixed(2), `${f0(d.cold.coldToFirstMs)} ms`,
      `${f0(Math.max(d.cold.heatmapPeakRssMb, d.batch.peakRssMb))} MB`, f2(d.batch.imagesPerSecond), fid,
      d.fid ? d.fid.maxDiff.toFixed(3) : '0', d.fid ? `${d.fid.argmaxMoved}/${d.fid.cases}` : '0',
    ]);
    if (r.key === 'l14-336') dtypeTargets.push([dtype, ratio, d.visionBytes + d.textBytes]);
  }
}
const dtypeTable = [
  '| model | dtype | download (vision + text) | warm heatmap / fp32 stock forward, paired | ratio | cold first heatmap | peak RSS | batch img/s | Pearson of the mask vs fp32 (mean / min) | max abs diff | argmax moved |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...dtypeRows.map((row) => `| ${row.join(' | ')} |`),
].join('\n');
const targetTable = [
  '| L/14-336 dtype | warm heatmap / fp32 stock forward (target ≤ 0.45) | first download (target ≤ 500 MB) |',
  '|---|---|---|',
  ...dtypeTargets.map(([d, ratio, bytes]) => `| ${d} | ${ratio.toFixed(2)} ${ratio <= 0.45 ? 'yes' : '**no**'} | ${mb(bytes)} ${bytes <= 500e6 ? 'yes' : '**no**'} |`),
].join('\n');
const fixtureTable = [
  '| fixture | dtype (text) | Pearson of the mask vs fp32 (mean / min) | max abs diff | argmax moved | planted pointing |',
  '|---|---|---|---|---|---|',
  ...fixtureRows.map((x) => `| ${x.fixture} | ${x.dtype}${x.textDtype !== x.dtype ? ` (${x.textDtype})` : ''} | ${x.fid ? `${x.fid.pearsonMean.toFixed(4)} / ${x.fid.pearsonMin.toFixed(4)}` : '1 (reference)'} | ${x.fid ? x.fid.maxDiff.toFixed(3) : '0'} | ${x.fid ? `${x.fid.argmaxMoved}/${x.fid.cases}` : '0'} | ${x.pointed ? `${x.pointed.hits}/${x.pointed.cases}` : ''} |`),
].join('\n');
const profileTable = [
  '| model | dtype | vision graph per forward, by operator (onnxruntime profile, ms) |',
  '|---|---|---|',
  ...results.flatMap((r) =>
    [['fp32', r.fp32Profile], ...Object.entries(r.dtypes).map(([d, x]) => [d, x.prof])]
      .filter(([, p]) => p)
      .map(([d, p]) => `| ${r.label} | ${d} | ${Object.entries(p.msPerRunByOp).slice(0, 7).map(([op, ms]) => `${op} ${ms.toFixed(0)}`).join(', ')} |`),
  ),
].join('\n');
const layerTable = [
  '| model | layer change | first change (prepare + session + heatmap) | back to the default layer | change again | peak RSS |',
  '|---|---|---|---|---|---|',
  ...results.flatMap((r) => [
    ['one engine, session swapped (previous released first)', r.layerSwap],
    ['a second engine per layer (before)', r.layerTwo],
  ].map(([what, x]) => `| ${r.label} | ${what} | ${f0(x.firstChangeMs)} ms | ${f0(x.backMs)} ms | ${f0(x.againMs)} ms | ${f0(x.peakRssMb)} MB |`)),
].join('\n');
const load = os.loadavg().map((x) => x.toFixed(1)).join(' / ');

const ortVersion = JSON.parse(fs.readFileSync(path.join(root, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version;
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, onnxruntime-node ${ortVersion}, ${os.availableParallelism?.() ?? os.cpus().length} ORT threads`;
const table = ['| model | measurement | figure | detail |', '|---|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const ratioTable = ['| model | ratio | value | target | met |', '|---|---|---|---|---|', ...ratios.map(([m, what, v, target, ok]) => `| ${m} | ${what} | ${v.toFixed(2)} | ${target} | ${ok ? 'yes' : '**no**'} |`)].join('\n');
console.log(`machine: ${machine}\n\n${table}\n\n${ratioTable}\n\n${dtypeTable}\n\n${targetTable}\n\n${profileTable}\n\n${fixtureTable}`);
const explanations = fs.existsSync(path.join(root, 'bench', 'explanations.md')) ? fs.readFileSync(path.join(root, 'bench', 'explanations.md'), 'utf8') : '';
fs.writeFileSync(
  path.join(root, 'BENCHMARKS.md'),
  `# Benchmarks\n\nWritten by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}. Random-weight exports with the real shapes (fixture generator), CPU.\n\nMachine: ${machine}; load average at the end of the run ${load} (1 / 5 / 15 min).\n\n## Figures (fp32)\n\n${table}\n\n## Ratios (fp32)\n\n${ratioTable}\n\n## Layer changes\n\n${layerTable}\n\n## Dtypes\n\nEach dtype's heatmap is timed in one process alternating with the fp32 stock forward (the yardstick, measured in the same process): the ratio is immune to load changes between processes. Agreement: the low-resolution mask of the dtype against fp32's on the same image and question (${fidelityImages.length} photos × ${questions.length} questions).\n\n${dtypeTable}\n\n${targetTable}\n\n### Where the time goes\n\n${profileTable}\n\n### Agreement on the fixtures\n\n${fixtureTable}\n\n${explanations}`,
);
log('wrote BENCHMARKS.md');
