// `npm run bench:lvlm` (also the last part of `npm run bench`): the local LLaVA-style model's time
// per LVLM map and per answer, and peak RSS, on a full-size random-weight export made by
// test/fixtures/generate_llava.py --full with the sizes of the smallest preset, llava-interleave-qwen-0.5b
// (a SigLIP-so400m-size tower at 384 px, 729 image tokens, and a Qwen2-0.5B-size decoder; cached
// where bench/run.mjs keeps its models, see cacheDir.mjs). Each run is its own process of the
// CLI (`mask --aux lvlm --json`), so peak RSS is per run. Prints figures; no assertions on time.
// Usage: node bench/lvlm.mjs [--tokens 32] [--runs 2]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { benchCacheDir } from './cacheDir.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arg = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const tokens = Number(arg('--tokens', '32'));
const runs = Number(arg('--runs', '2'));
const cache = benchCacheDir;
const name = 'llava-interleave-qwen0.5b-size-random';
const modelDir = path.join(cache, 'models', name);
const log = (...a) => process.stderr.write(`[bench:lvlm] ${a.join(' ')}\n`);

if (!fs.existsSync(path.join(modelDir, 'onnx', 'decoder_model_merged.onnx'))) {
  log('generating the full-size random LLaVA-style export with test/fixtures/generate_llava.py --full (minutes) …');
  const r = spawnSync(process.env.PYTHON ?? '/usr/bin/python3', [path.join(root, 'test/fixtures/generate_llava.py'), path.join(cache, 'models'), '--full', name], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) throw new Error('generator failed (needs python3-torch and python3-onnx)');
}
const sizeOf = (f) => fs.statSync(path.join(modelDir, 'onnx', f)).size;
const files = ['vision_encoder.onnx', 'embed_tokens.onnx', 'decoder_model_merged.onnx'];

const image = path.join(cache, 'photo-640x480.jpg');
if (!fs.existsSync(image)) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><rect width="100%" height="100%" fill="#4a78a8"/><circle cx="200" cy="190" r="96" fill="#c0392b"/><rect x="350" y="240" width="190" height="140" fill="#27ae60"/></svg>`;
  await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toFile(image);
}

const rssHook = path.join(os.tmpdir(), `ap-bench-rss-${process.pid}.cjs`);
fs.writeFileSync(rssHook, "process.on('exit', () => process.stderr.write('\\nmaxrss-kb ' + process.resourceUsage().maxRSS + '\\n'));\n");

function run(cacheDir) {
  const out = path.join(os.tmpdir(), `ap-bench-lvlm-${process.pid}.png`);
  const args = ['-r', rssHook, path.join(root, 'dist', 'cli.js'), 'mask', image, 'What is the red object?', '--aux', 'lvlm', '--model', modelDir, '--offline'];
  args.push('--cache-dir', cacheDir, '--json', '--max-tokens', String(tokens), '--out', out, '--heatmap', out.replace('.png', '.overlay.png'));
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const wallMs = Date.now() - t0;
  if (r.status !== 0) throw new Error(`run failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop());
  const rss = Number(/maxrss-kb (\d+)/.exec(r.stderr)?.[1] ?? NaN) * 1024;
  return { ...j.timings, wallMs, rss, steps: j.steps, answerTokens: j.answer.finishReason === 'length' ? tokens : undefined, grid: j.grid };
}

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ap-bench-lvlm-cache-'));
const results = [];
for (let i = 0; i < runs; i++) {
  log(`run ${i + 1} of ${runs}${i === 0 ? ' (cold: prepares the decoder graph)' : ' (prepared graph from the cache)'} …`);
  results.push(run(cacheDir));
}
fs.rmSync(cacheDir, { recursive: true, force: true });
fs.rmSync(rssHook, { force: true });

const mb = (n) => `${(n / 1e6).toFixed(0)} MB`;
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const lines = [
  `LVLM map and local answers — ${name}: ${files.map((f) => `${f} ${mb(sizeOf(f))}`).join(', ')}; ${os.cpus().length} cores; 640×480 JPEG; answers capped at ${tokens} tokens`,
  '',
  '| run | load + prepare | LVLM map (steps) | answer | per answer token | wall | peak RSS |',
  '|---|---|---|---|---|---|---|',
  ...results.map((r, i) => {
    const perToken = r.answerTokens ? s(r.answerMs / r.answerTokens) : 'n/a (EOS)';
    return `| ${i === 0 ? 'cold' : 'second start'} | ${s(r.loadMs)} | ${s(r.mapMs)} (${r.steps}, grid ${r.grid.join('×')}) | ${s(r.answerMs)} | ${perToken} | ${s(r.wallMs)} | ${mb(r.rss)} |`;
  }),
];
console.log(lines.join('\n'));

// Its own section of BENCHMARKS.md (bench/run.mjs rewrites the rest of the file; this section is replaced, not repeated).
const BEGIN = '<!-- bench:lvlm -->';
const END = '<!-- /bench:lvlm -->';
const benchmarks = path.join(root, 'BENCHMARKS.md');
const previous = fs.existsSync(benchmarks) ? fs.readFileSync(benchmarks, 'utf8') : '# Benchmarks\n';
const kept = previous.includes(BEGIN) ? previous.slice(0, previous.indexOf(BEGIN)).trimEnd() + previous.slice(previous.indexOf(END) + END.length) : previous;
const section = [
  BEGIN,
  `## Local LLaVA-style model (\`npm run bench:lvlm\`, ${new Date().toISOString().slice(0, 10)})`,
  '',
  'Random weights with the shapes of the smallest preset, llava-interleave-qwen-0.5b (a SigLIP-so400m-size tower built CLIP-style',
  'at 384 px, 729 image tokens; a Qwen2-0.5B-size decoder), fp32, CPU, made by `test/fixtures/generate_llava.py --full`. Each',
  'run is a fresh process of `mask --aux lvlm` (so "second start" reuses the prepared decoder graph from the cache); the LVLM',
  'map generates by the reference\'s rule (up to 20 tokens, every step observed), the answer to the masked image is capped as',
  'shown. Random weights never emit EOS, so every answer runs to the cap. Real weights were not measured (no hub access).',
  '',
  ...lines,
  END,
].join('\n');
fs.writeFileSync(benchmarks, kept.trimEnd() + '\n\n' + section + '\n');
log('wrote its section of BENCHMARKS.md');
