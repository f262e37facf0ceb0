/**
 * The batch report opened in headless Chromium from disk (no server, no network): the right
 * number of rows, filter and sort work, its own CSP admits its script and nothing else, and a
 * screenshot for people to look at. VS Code's webview shows the same file unchanged (e2e suite).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { runBatch } from '../../src/core/batch/runner';
import { writeReport } from '../../src/core/batch/report';
import { REPORT_HOST_CHECKS, type ReportHostVocabulary, type ReportVocabulary } from '../../src/shared/protocol';
import { Endpoint } from '../../src/shared/rpc';
import sharp from 'sharp';
import { describeScores } from '../../src/cli/score';
import { DEFAULT_VLM_SETTINGS } from '../../src/core/defaults';
import { batchOptions } from '../batchSetup';
import { ROOT, rectangleImage, tempDir } from '../helpers';
import { startFakeVlm } from '../vlm/server';
import { scoredOutput } from './scoredOutput';
import { launchChromium } from './launch';

describe('batch report in a browser', () => {
  let browser: Browser;
  let report: string;
  const n = 24;
  before(async () => {
    const dir = tempDir('ap-report-');
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    const colours = ['red', 'green', 'blue'];
    for (let i = 0; i < n; i++) {
      fs.writeFileSync(path.join(data, `img${String(i).padStart(2, '0')}.png`), await rectangleImage(120, 90, colours[i % 3], { left: 10 + i * 3, top: 20, width: 40, height: 30 }));
    }
    fs.writeFileSync(path.join(data, 'zz-broken.png'), 'not an image');
    const out = path.join(dir, 'out');
    const summary = await runBatch(batchOptions(data, out, path.join(dir, 'cache')));
    report = await writeReport(out, summary);
    browser = await launchChromium();
  });
  after(() => browser?.close());

  it('shows one row per item, with thumbnails, and filters and sorts them', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 3600 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`file://${report}`);
    assert.equal(await page.locator('#list .row').count(), n + 1);
    assert.match((await page.locator('#count').innerText()).trim(), new RegExp(`^${n + 1} of ${n + 1} rows$`));
    await page.waitForFunction((want) => [...document.querySelectorAll('#list img')].filter((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0).length === want, n * 3);
    assert.ok(requests.every((u) => u.startsWith('file:') || u.startsWith('data:')), 'nothing fetched from the network');
    assert.deepEqual(errors, [], 'no CSP or script errors');
    fs.mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.screenshot({ path: path.join(ROOT, 'test-artifacts', 'batch-report.png'), fullPage: false });
    await page.selectOption('#status', 'error');
    assert.equal(await page.locator('#list .row').count(), 1);
    assert.match(await page.locator('#list .row').innerText(), /zz-broken/);
    await page.selectOption('#status', 'all');
    await page.fill('#filter', 'img0');
    assert.equal(await page.locator('#list .row').count(), 10);
    await page.fill('#filter', '');
    await page.click('[data-sort="id"]');
    assert.equal(await page.locator('#list .row').first().getAttribute('data-id'), 'zz-broken', 'descending by id');
  });

  it('carries its own strict CSP: the script and style it ships run, nothing else does, nothing is fetched', async () => {
    const html = fs.readFileSync(report, 'utf8');
    const csp = /<head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
    assert.ok(csp, 'the CSP is the first thing after the charset, before any style or script');
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('img-src'), ['data:'], 'thumbnails embedded: no files admitted');
    assert.deepEqual(directives.get('base-uri'), ["'none'"]);
    assert.match(directives.get('script-src')!.join(' '), /^'sha256-[A-Za-z0-9+/]+=*'$/);
    assert.match(directives.get('style-src')!.join(' '), /^'sha256-[A-Za-z0-9+/]+=*'$/);
    assert.ok(!/https?:|\*|'unsafe-inline'|'unsafe-eval'/.test(csp), csp);
    assert.equal(html.match(/<script/g)?.length, 3, 'one script, and its texts and the rows as JSON data islands');
    assert.match(html, /<script type="application\/json" id="rows">/);

    // The report as written: no violations, and its script ran (it fills the row count).
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => /Content Security Policy/i.test(m.text()) && violations.push(m.text()));
    await page.goto(`file://${report}`);
    assert.match(await page.locator('#count').innerText(), /rows$/);
    assert.deepEqual(violations, []);

    // The same file with something injected (as a crafted answer would try): the CSP stops it.
    const tampered = path.join(path.dirname(report), 'tampered.html');
    fs.writeFileSync(
      tampered,
      html.replace('<h1>', `<script>document.title = 'injected'</script><img id="beacon" src="http://127.0.0.1:9/beacon.png"><div id="styled" style="color: rgb(1, 2, 3)">x</div><h1>`),
    );
    const sent: string[] = [];
    page.on('requestfinished', (r) => sent.push(r.url()));
    page.on('requestfailed', (r) => !/csp|blocked/i.test(r.failure()?.errorText ?? '') && sent.push(r.url()));
    await page.goto(`file://${tampered}`);
    assert.notEqual(await page.title(), 'injected', 'an inline script outside the hash does not run');
    assert.notEqual(await page.locator('#styled').evaluate((e) => getComputedStyle(e).color), 'rgb(1, 2, 3)', 'inline style attributes are blocked');
    assert.ok(!sent.some((u) => u.includes('beacon')), `the image was blocked before any request: ${sent.join(' ')}`);
    assert.ok(violations.length >= 2, `violations reported: ${violations.length}`);
    assert.match(await page.locator('#count').innerText(), /rows$/, 'the report’s own script still runs');
    await page.close();
  });

  it('inside VS Code a row click asks for its heatmap panel, and Re-run failed asks to resume', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // What VS Code's webview provides; the page finds it at load.
    await page.addInitScript(() => {
      const sent: unknown[] = [];
      Object.assign(window, { sent, acquireVsCodeApi: () => ({ postMessage: (m: unknown) => sent.push(m) }) });
    });
    await page.goto(`file://${report}`);
    await page.click('#list .row[data-id="img03"] .q');
    await page.click('#rerun-failed');
    // What it posted, read by the host's end of the typed channel with the host's checks.
    const received: unknown[] = [];
    const invalid: string[] = [];
    const hostEnd = new Endpoint<ReportHostVocabulary, ReportVocabulary>({ send: () => undefined, checks: REPORT_HOST_CHECKS, onInvalid: (why) => invalid.push(why) })
      .onNotification('openItem', (item) => received.push(['openItem', item]))
      .onNotification('rerunFailed', () => received.push(['rerunFailed']));
    for (const m of await page.evaluate(() => (window as unknown as { sent: unknown[] }).sent)) hostEnd.receive(m);
    assert.deepEqual(invalid, []);
    assert.deepEqual(received, [['openItem', { id: 'img03' }], ['rerunFailed']]);
    // In a plain browser there is no host: no button.
    const plain = await browser.newPage();
    await plain.goto(`file://${report}`);
    assert.equal(await plain.locator('#rerun-failed').isVisible(), false);
  });
});

describe('scored report in a browser', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(() => browser?.close());

  it('an edited summary.json cannot add markup to the page nor replace its rows', async () => {
    const dir = await scoredOutput(8);
    const summaryFile = path.join(dir, 'summary.json');
    const fake = JSON.stringify([{ id: 'FAKE', file: 'fake.png', question: 'fake', outcome: 'unscored', ms: 0 }]);
    const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
    Object.assign(summary, {
      input: '/data',
      model: 'm',
      parameters: { contrast: 5, kernel: 3, gray: `0</div><script type="application/json" id="rows">${fake}</script><div>`, interpolation: 'lanczos3', geometry: 'full' },
      layer: '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/elsewhere">',
      done: '<img src="http://127.0.0.1:9/beacon.png">',
      failed: 0,
      skipped: 0,
    });
    summary.comparison.overall.table.bothRight = '<b id="injected-cell">1</b>';
    summary.comparison.unscored = '<i id="injected-unscored">1</i>';
    fs.writeFileSync(summaryFile, JSON.stringify(summary));
    const report = await writeReport(dir); // as `score` and the extension rebuild it: summary.json read back

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`file://${report}`, { waitUntil: 'load' });
    // The row count is written by the report's own script: once it is there, the page has run.
    await page.waitForFunction(() => /rows$/.test(document.getElementById('count')?.textContent ?? ''));
    const injected = await page.evaluate(() => ({
      refresh: document.querySelectorAll('meta[http-equiv="refresh"]').length,
      islands: document.querySelectorAll('script[type="application/json"]').length,
      images: document.querySelectorAll('.summary img, #comparison b, #comparison i').length,
    }));
    assert.deepEqual(injected, { refresh: 0, islands: 2, images: 0 }, 'only the texts and the rows');
    assert.ok(page.url().startsWith('file://'), page.url());
    assert.equal(await page.locator('#list .row').count(), 8, 'the real rows');
    assert.equal(await page.locator('#list .row[data-id="FAKE"]').count(), 0);
    assert.equal((await page.locator('#list .row').first().getAttribute('data-id')), 'item0');
    // Fields that should be numbers and are not are shown as "?".
    assert.match(await page.locator('.summary').innerText(), /layer \? · contrast 5, kernel 3, lanczos3, gray \?,.* \? done, 0 failed/);
    assert.ok(requests.every((u) => u.startsWith('file:') || u.startsWith('data:')), requests.join(' '));

    // Even a data island planted in the page itself, before the real one, is not the one read.
    const planted = path.join(dir, 'planted.html');
    fs.writeFileSync(planted, fs.readFileSync(report, 'utf8').replace('<h1>', `<script type="application/json" id="rows">${fake}</script><h1>`));
    await page.goto(`file://${planted}`);
    await page.waitForFunction(() => /rows$/.test(document.getElementById('count')?.textContent ?? ''));
    assert.equal(await page.locator('#list .row').count(), 8);
    assert.equal(await page.locator('#list .row[data-id="FAKE"]').count(), 0);
    await page.close();
  });

  it('shows the comparison and filters "masked right, original wrong" and the reverse in one click', async () => {
    const dir = await scoredOutput(40);
    const report = await writeReport(dir);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`file://${report}`);
    // Text from the data is text, never markup.
    assert.equal(await page.locator('#list script').count(), 0);
    assert.match(await page.locator('#list .row').first().innerText(), /<script>alert\(1\)<\/script>/);
    const table = await page.locator('#comparison').innerText();
    assert.match(table, /all\s+50\.0%.*20\/40/s);
    assert.match(table, /\b10\s+10\s+10\s+10\b/, 'paired counts');
    await page.click('button[data-outcome="only-masked"]');
    assert.match(await page.locator('#count').innerText(), /^10 of 40 rows$/);
    assert.deepEqual(await page.locator('#list .row').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id)), ['item1', 'item5', 'item9', 'item13', 'item17', 'item21', 'item25', 'item29', 'item33', 'item37']);
    await page.click('button[data-outcome="only-original"]');
    assert.equal(await page.locator('#list .row').first().getAttribute('data-id'), 'item2');
    await page.selectOption('#category', 'odd');
    assert.match(await page.locator('#count').innerText(), /^0 of 40 rows$/, 'only-original items are all even');
  });

  it('a large report links thumbnail files and keeps only the rows in view in the page', async () => {
    const dir = await scoredOutput(3000);
    const report = await writeReport(dir, undefined, { inlineThumbnailsMaxBytes: 1024 });
    const html = fs.readFileSync(report, 'utf8');
    assert.ok(!html.includes('data:image/jpeg;base64'), 'thumbnails are files beside the report');
    // Its CSP admits the files (file: here, the webview's resource origin in VS Code) and, for the webview's <base>, only that origin.
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1];
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
    assert.deepEqual(directives.get('img-src'), ['data:', 'file:', 'https://*.vscode-cdn.net']);
    assert.deepEqual(directives.get('base-uri'), ['https://*.vscode-cdn.net']);
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const violations: string[] = [];
    page.on('console', (m) => /Content Security Policy/i.test(m.text()) && violations.push(m.text()));
    await page.goto(`file://${report}`);
    assert.match(await page.locator('#count').innerText(), /^3000 of 3000 rows$/);
    const inDom = await page.locator('#list .row').count();
    assert.ok(inDom > 5 && inDom < 40, `${inDom} rows in the DOM`);
    await page.waitForFunction(() => [...document.querySelectorAll('#list img')].some((i) => (i as HTMLImageElement).naturalWidth > 0));
    // Scrolled to the end, the last rows are drawn.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForFunction(() => !!document.querySelector('#list .row[data-id="item2999"]'));
    assert.ok((await page.locator('#list .row').count()) < 40);
    assert.deepEqual(violations, []);
  });

});

describe('a scored run in a browser', () => {
  it('a run with ground truth against a scripted VLM: the page README shows', async () => {
    const dir = tempDir('ap-report-run-');
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    // Colour questions about boxes; the scripted VLM is right about most masked images and fewer originals.
    const colours = ['red', 'green', 'blue', 'yellow'];
    const lines: string[] = [];
    const original = new Map<number, number>();
    for (let i = 0; i < 12; i++) {
      const colour = colours[i % 4];
      const png = await rectangleImage(100 + i, 75, colour, { left: 10 + i * 4, top: 15 + (i % 3) * 10, width: 36, height: 28 });
      fs.writeFileSync(path.join(data, `box${i}.png`), png);
      const { data: rgb } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      original.set(100 + i, rgb.reduce((a, b) => a + b, 0) / rgb.length);
      lines.push(JSON.stringify({ id: `box${i}`, image: `box${i}.png`, question: `Where is the ${colour} box? Answer left or right.`, answer: 10 + i * 4 + 18 < 50 + i / 2 ? 'left' : 'right', category: i < 6 ? 'small' : 'large' }));
    }
    fs.writeFileSync(path.join(data, 'items.jsonl'), lines.join('\n') + '\n');
    const vlm = await startFakeVlm({ apiKey: 'sk-demo' });
    vlm.script = (req) => {
      if (!req.image) return undefined;
      const i = req.image.width - 100;
      const mean = req.image.rgb.reduce((a, b) => a + b, 0) / req.image.rgb.length;
      const masked = Math.abs(mean - original.get(req.image.width)!) > 0.5;
      const right = 10 + i * 4 + 18 < 50 + i / 2 ? 'left' : 'right';
      const wrong = right === 'left' ? 'right' : 'left';
      return masked ? (i % 6 === 5 ? `The box is on the ${wrong}.` : `${right[0].toUpperCase()}${right.slice(1)}.`) : i % 3 === 0 ? `On the ${right}` : wrong;
    };
    try {
      const out = path.join(dir, 'review');
      const summary = await runBatch({
        ...batchOptions(path.join(data, 'items.jsonl'), out, path.join(dir, 'cache'), { question: undefined }),
        metric: 'contains',
        vlm: { ...DEFAULT_VLM_SETTINGS, baseURL: vlm.baseURL, apiKey: 'sk-demo', model: 'scripted-vlm', maxRetries: 0, compareWithOriginal: true, maxImageSide: 512 },
      });
      const report = await writeReport(out, summary);
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 820 } });
        await page.goto(`file://${report}`);
        await page.click('button[data-outcome="only-masked"]');
        const shown = await page.locator('#list .row').count();
        assert.equal(shown, summary.comparison!.overall.table.onlyMaskedRight);
        await page.waitForFunction((n) => [...document.querySelectorAll('#list img')].filter((i) => (i as HTMLImageElement).naturalWidth > 0).length === n * 3, shown);
        fs.mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
        await page.screenshot({ path: path.join(ROOT, 'test-artifacts', 'scored-report.png') });
        // What the CLI prints for this run (README quotes it).
        fs.writeFileSync(path.join(ROOT, 'test-artifacts', 'scored-report.txt'), describeScores(summary));
      } finally {
        await browser.close();
      }
    } finally {
      await vlm.close();
    }
  });
});
