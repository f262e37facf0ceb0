// Peak memory of `attention-prompt batch --no-vlm` on 200 and on 2,000 small images (planted
// fixture model): the peak must stay under a stated bound and must not grow with the dataset.
// A benchmark script (prints figures, exits 1 if the bound is broken), not a timed test.
// Usage: node bench/batch-memory.mjs [--images 2000] [--bound-mb 400]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arg = (name, fallback) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const large = arg('--images', 2000);
const boundMb = arg('--bound-mb', 400);
const growthMb = arg('--growth-mb', 100);
const cli = path.join(root, 'dist', 'cli.js');
if (!fs.existsSync(cli)) throw new Error('build first: node esbuild.mjs');

async function dataset(dir, n) {
  fs.mkdirSync(dir, { recursive: true });
  const colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]];
  for (let i = 0; i < n; i++) {
    const [r, g, b] = colours[i % 4];
    const patch = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r, g, b } } }).png().toBuffer();
    await sharp({ create: { width: 160, height: 120, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .composite([{ input: patch, left: (i * 7) % 110, top: (i * 5) % 80 }])
      .png()
      .toFile(path.join(dir, `img${String(i).padStart(5, '0')}.png`));
  }
}

/** Runs the CLI and samples the child's peak RSS (VmHWM) from /proc until it exits. */
function run(input, out, cache) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const child = spawn(process.execPath, [cli, 'batch', input, '--question', 'where is the red box?', '--no-vlm', '--out', out, '--model', path.join(root, 'test/fixtures/models/planted-clip'), '--offline', '--cache-dir', cache], { stdio: ['ignore', 'pipe', 'pipe'] });
    let peakKb = 0;
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const timer = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        // exited
      }
    }, 50);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`batch exited ${code}: ${stdout}`));
      else resolve({ peakMb: peakKb / 1024, seconds: (Date.now() - start) / 1000, rate: Number(/([\d.]+) images\/s/.exec(stdout)?.[1]) });
    });
  });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ap-bench-mem-'));
const cache = path.join(tmp, 'cache');
const rows = [];
for (const n of [200, large]) {
  const dir = path.join(tmp, `data-${n}`);
  await dataset(dir, n);
  const r = await run(dir, path.join(tmp, `out-${n}`), cache);
  rows.push({ images: n, ...r });
}
console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version}`);
console.log('images  peak RSS (MB)  images/s  seconds');
for (const r of rows) console.log(`${String(r.images).padStart(6)}  ${r.peakMb.toFixed(0).padStart(13)}  ${r.rate.toFixed(1).padStart(8)}  ${r.seconds.toFixed(1).padStart(7)}`);
const growth = rows[1].peakMb - rows[0].peakMb;
console.log(`growth from ${rows[0].images} to ${rows[1].images} images: ${growth.toFixed(0)} MB (allowed ${growthMb}); bound ${boundMb} MB`);
fs.rmSync(tmp, { recursive: true, force: true });
if (rows.some((r) => r.peakMb > boundMb) || growth > growthMb) {
  console.error('memory bound broken');
  process.exit(1);
}
