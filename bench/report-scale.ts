/**
 * How the batch report holds up at scale: writes a scored output of N results (default 20,000)
 * with thumbnail files, builds report.html, opens it in headless Chromium from disk and prints
 * the write time, file size, load time and filter times. A benchmark that prints figures, not a test.
 * Usage: npm run bench:report [-- --rows 20000 --runs 5]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { writeReport } from '../src/core/batch/report';
import { rescoreOutput } from '../src/core/batch/rescore';
import { launchChromium } from '../test/browser/launch';

const arg = (name: string, fallback: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const ROWS = arg('--rows', 20_000);
const RUNS = arg('--runs', 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function output(dir: string, n: number): Promise<void> {
  fs.mkdirSync(path.join(dir, 'thumbs'), { recursive: true });
  // Three distinct small JPEGs, hard-linked per item: real files of real size, without n × 3 encodes.
  const protos = await Promise.all(
    [[200, 40, 40], [120, 60, 160], [20, 20, 20]].map(async ([r, g, b], i) => {
      const file = path.join(dir, `proto${i}.jpg`);
      await sharp({ create: { width: 160, height: 120, channels: 3, background: { r, g, b } } }).jpeg({ quality: 70 }).toFile(file);
      return file;
    }),
  );
  const answers: Array<[string, string]> = [['red', 'red'], ['red', 'blue'], ['blue', 'red'], ['blue', 'blue'], ['It is red, next to the sign.', 'A blue car']];
  const out = fs.openSync(path.join(dir, 'results.jsonl'), 'w');
  for (let i = 0; i < n; i++) {
    const id = `item${String(i).padStart(5, '0')}`;
    const thumbs = { original: `thumbs/${id}.original.jpg`, overlay: `thumbs/${id}.overlay.jpg`, masked: `thumbs/${id}.masked.jpg` };
    Object.values(thumbs).forEach((t, k) => fs.linkSync(protos[k], path.join(dir, t)));
    const [m, o] = answers[i % answers.length];
    const rec = {
      id,
      image: `/data/photos/${id}.jpg`,
      question: `What colour is the vehicle in picture ${i}?`,
      answer: 'red',
      category: ['vehicles', 'signs', 'people'][i % 3],
      maskedAnswer: m,
      originalAnswer: o,
      parameters: { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', geometry: 'full' },
      model: 'Xenova/clip-vit-large-patch14-336',
      layer: 22,
      outputs: { masked: `masked/${id}.jpg`, overlay: `overlays/${id}.jpg`, thumbs },
      timings: { decode: 3, vision: 180 + (i % 40), vlmMasked: 900 + (i % 300), vlmOriginal: 950 + (i % 250) },
      finishedAt: new Date(0).toISOString(),
    };
    fs.writeSync(out, JSON.stringify(rec) + '\n');
  }
  fs.closeSync(out);
  fs.writeFileSync(path.join(dir, 'summary.json'), '{}');
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ap-bench-report-'));
  try {
    let t = performance.now();
    await output(dir, ROWS);
    const makeMs = performance.now() - t;
    t = performance.now();
    await rescoreOutput(dir, 'exact');
    const scoreMs = performance.now() - t;
    t = performance.now();
    const report = await writeReport(dir);
    const writeMs = performance.now() - t;
    const html = fs.readFileSync(report, 'utf8');
    const inline = html.includes('data:image/jpeg;base64');

    const browser = await launchChromium();
    const loads: number[] = [];
    const read: number[] = [];
    const parsed: number[] = [];
    const filters: Record<string, number[]> = { 'outcome button (masked wrong, original right)': [], 'text filter ("sign")': [], 'category select': [], 'back to all rows': [], 'scroll to the middle': [] };
    let domRows = 0;
    for (let run = 0; run < RUNS; run++) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const start = performance.now();
      await page.goto(`file://${report}`);
      await page.waitForFunction((n) => document.getElementById('count')?.textContent === `${n} of ${n} rows` && document.querySelectorAll('#list .row').length > 0, ROWS);
      // From navigation start to the first rows drawn, as the page measures it.
      loads.push(await page.evaluate(() => new Promise<number>((r) => requestAnimationFrame(() => r(performance.now())))));
      const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming);
      read.push(nav.responseEnd);
      parsed.push(nav.domInteractive);
      void start;
      domRows = await page.locator('#list .row').count();
      // Each action timed in the page: a filter's handler (filter, sort, redraw of the rows in view); a scroll up to its frame.
      const timed = (action: string) =>
        page.evaluate(
          (a) =>
            new Promise<number>((resolve) => {
              const t0 = performance.now();
              const box = document.getElementById('filter') as HTMLInputElement;
              if (a === 'outcome') (document.querySelector('button[data-outcome="only-original"]') as HTMLButtonElement).click();
              if (a === 'text') {
                box.value = 'sign';
                box.dispatchEvent(new Event('input'));
              }
              if (a === 'category') {
                const s = document.getElementById('category') as HTMLSelectElement;
                s.value = 'people';
                s.dispatchEvent(new Event('change'));
              }
              if (a === 'reset') {
                box.value = '';
                box.dispatchEvent(new Event('input'));
                (document.querySelector('button[data-outcome="all"]') as HTMLButtonElement).click();
                const s = document.getElementById('category') as HTMLSelectElement;
                s.value = 'all';
                s.dispatchEvent(new Event('change'));
              }
              if (a === 'scroll') window.scrollTo(0, document.body.scrollHeight / 2);
              const handler = performance.now() - t0;
              // Scrolling draws in the next frame; filters draw inside the handler. Either way: up to the frame after.
              requestAnimationFrame(() => resolve(a === 'scroll' ? performance.now() - t0 : handler));
            }),
          action,
        );
      filters['outcome button (masked wrong, original right)'].push(await timed('outcome'));
      filters['text filter ("sign")'].push(await timed('text'));
      filters['category select'].push(await timed('category'));
      filters['back to all rows'].push(await timed('reset'));
      filters['scroll to the middle'].push(await timed('scroll'));
      await page.close();
    }
    await browser.close();

    const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
    console.log(`report at ${ROWS.toLocaleString('en')} rows (median of ${RUNS} loads, headless Chromium, ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)})`);
    console.log(`  generate results + ${(ROWS * 3).toLocaleString('en')} thumbnail files  ${(makeMs / 1000).toFixed(1)} s (setup, not the report)`);
    console.log(`  attention-prompt score (rescore)              ${scoreMs.toFixed(0)} ms`);
    console.log(`  write report.html                             ${writeMs.toFixed(0)} ms, ${mb(Buffer.byteLength(html))}, thumbnails ${inline ? 'embedded' : 'as files beside it'}`);
    console.log(`  load: file read                               ${median(read).toFixed(0)} ms`);
    console.log(`  load: HTML parsed (rows script starts)        ${median(parsed).toFixed(0)} ms`);
    console.log(`  load: first rows drawn                        ${median(loads).toFixed(0)} ms (min ${Math.min(...loads).toFixed(0)}, max ${Math.max(...loads).toFixed(0)})`);
    console.log(`  rows in the DOM                               ${domRows} of ${ROWS.toLocaleString('en')}`);
    for (const [name, xs] of Object.entries(filters)) console.log(`  ${name.padEnd(46)}${median(xs).toFixed(1)} ms (max ${Math.max(...xs).toFixed(1)})`);
  } finally {
    if (process.argv.includes('--keep')) console.log(`  kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
