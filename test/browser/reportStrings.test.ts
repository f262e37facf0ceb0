/**
 * The report's script shows the texts the report was written with (the extension's translations),
 * not English ones of its own: the row count, the right/wrong marks, hints, incomplete answers,
 * thumbnails' alt texts and the row's tooltip inside VS Code. Headless Chromium, from disk.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { writeReport } from '../../src/core/batch/report';
import { rescoreOutput } from '../../src/core/batch/rescore';
import { ENGLISH_REPORT_STRINGS, type ReportStrings } from '../../src/shared/reportStrings';
import { tempDir } from '../helpers';
import { launchChromium } from './launch';

/** Each text replaced by a marker naming its key, placeholders kept. */
const marked = Object.fromEntries(
  Object.entries(ENGLISH_REPORT_STRINGS).map(([key, english]) => [key, key === 'lang' ? 'x-test' : `⟦${key}⟧${(english.match(/\{\d\}/g) ?? []).join('/')}`]),
) as unknown as ReportStrings;

/** Two scored results with thumbnails: one with a hint and an answer cut short. */
async function output(): Promise<string> {
  const dir = tempDir('ap-report-l10n-');
  fs.mkdirSync(path.join(dir, 'thumbs'));
  const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 30, b: 30 } } }).jpeg().toBuffer();
  const lines = ['a', 'b'].map((id) => {
    const thumbs = { original: `thumbs/${id}.original.jpg`, overlay: `thumbs/${id}.overlay.jpg`, masked: `thumbs/${id}.masked.jpg` };
    for (const t of Object.values(thumbs)) fs.writeFileSync(path.join(dir, t), jpeg);
    const parameters = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', geometry: 'full' };
    return JSON.stringify({
      id, image: `/data/${id}.png`, question: 'colour?', answer: 'red', maskedAnswer: 'red', originalAnswer: 'blue', parameters, model: 'm', layer: 2,
      outputs: { masked: `masked/${id}.png`, overlay: `overlays/${id}.jpg`, thumbs }, timings: {}, finishedAt: '',
      ...(id === 'a' ? { hint: 'the box', incomplete: { original: 'length' } } : {}),
    });
  });
  fs.writeFileSync(path.join(dir, 'results.jsonl'), lines.join('\n') + '\n');
  await rescoreOutput(dir, 'exact');
  return dir;
}

describe('report texts in a browser', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(() => browser?.close());

  it("the script's texts are the ones the report was written with", async () => {
    const report = await writeReport(await output(), undefined, { strings: marked });
    const page = await browser.newPage();
    // Inside VS Code (a host API present), rows get the "open in the panel" tooltip.
    await page.addInitScript(() => {
      (window as unknown as { acquireVsCodeApi: () => unknown }).acquireVsCodeApi = () => ({ postMessage: () => undefined });
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`file://${report}`);
    assert.equal((await page.locator('#count').innerText()).trim(), '⟦rowCount⟧2/2');
    const row = page.locator('#list .row[data-id="a"]');
    assert.equal(await row.getAttribute('title'), '⟦openInPanel⟧');
    assert.deepEqual(await row.locator('.mark').evaluateAll((marks) => marks.map((m) => (m as HTMLElement).title)), ['⟦right⟧', '⟦wrong⟧']);
    assert.deepEqual(await row.locator('img').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).alt)), ['⟦altOriginal⟧', '⟦altOverlay⟧', '⟦altMasked⟧']);
    const text = await row.innerText();
    assert.ok(text.includes('⟦hint⟧the box'), text);
    assert.ok(text.includes('⟦incomplete⟧length'), text);
    assert.deepEqual(errors, []);
  });

  it('a report without texts of its own (the CLI) shows English', async () => {
    const page = await browser.newPage();
    await page.goto(`file://${await writeReport(await output())}`);
    assert.equal((await page.locator('#count').innerText()).trim(), '2 of 2 rows');
    assert.equal(await page.locator('#list .row[data-id="a"] .mark').first().getAttribute('title'), 'right');
  });
});
