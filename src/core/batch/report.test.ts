/**
 * The report's texts come from the caller (the extension passes vscode.l10n translations; the CLI
 * passes none and gets English): every heading, table head, filter, button and run-line text in
 * the page is the caller's, and the script's texts travel in the page for it to read.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers';
import { ENGLISH_REPORT_STRINGS, type ReportStrings } from '../../shared/reportStrings';
import { writeReport } from './report';
import type { ResultRecord } from './results';

const parameters = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', geometry: 'full' };
const record: ResultRecord = { id: 'a', image: '/data/a.png', question: 'colour?', parameters, model: 'm', layer: 2, maskedAnswer: 'red', timings: {}, finishedAt: '2026-01-01T00:00:00Z' };
const group = {
  masked: { accuracy: 0.5, ci95: [0.2, 0.8], right: 5, n: 10 },
  original: { accuracy: 0.4, ci95: [0.1, 0.7], right: 4, n: 10 },
  table: { bothRight: 3, onlyMaskedRight: 2, onlyOriginalRight: 1, bothWrong: 4, mcnemarP: 0.5 },
  judgeMean: { masked: 0.5, original: 0.4 },
};
/** A judged run with answers from an endpoint, interrupted, one shard: every run-line text shows. */
const judgedRun = {
  input: '/data', model: 'm', layer: 22, parameters, vlmModel: 'gpt', endpointHost: 'api.example', done: 9, failed: 1, skipped: 0, missing: 2,
  interrupted: true, shard: '1/2', imagesPerSecond: 1.5, metric: 'judge', comparison: { metric: 'judge', overall: group, categories: { animals: group }, unscored: 3 },
};
/** A sweep without answers: the ranked table and the swept axes show. */
const sweepRun = { input: '/data', model: 'm', layer: 22, parameters, done: 9, failed: 1, skipped: 0, sweepAxes: { layer: [20, 22] }, metric: 'exact', sweep: [{ ...group, setting: 'layer=20', rank: 1 }] };

/** Texts only the page's script shows (rows, marks, alt texts): they reach it through the strings island. */
const SCRIPT_ONLY: Array<keyof ReportStrings> = ['rowCount', 'right', 'wrong', 'notScored', 'incomplete', 'hint', 'altOriginal', 'altOverlay', 'altMasked', 'openInPanel'];

/** Each text replaced by a marker naming its key, with the English placeholders kept: `⟦done⟧{0}`. */
const marked = Object.fromEntries(
  Object.entries(ENGLISH_REPORT_STRINGS).map(([key, english]) => [key, key === 'lang' ? 'x-test' : `⟦${key}⟧${(english.match(/\{\d\}/g) ?? []).join(' ')}`]),
) as unknown as ReportStrings;

async function report(summary: object, strings?: ReportStrings): Promise<string> {
  const dir = tempDir('ap-report-strings-');
  fs.writeFileSync(path.join(dir, 'results.jsonl'), JSON.stringify(record) + '\n');
  return fs.readFileSync(await writeReport(dir, summary as never, strings ? { strings } : {}), 'utf8');
}

const withoutScripts = (html: string) => html.replace(/<script\b[^>]*>.*?<\/script>/gs, '');

/** The JSON island the page's script reads its texts from. */
function stringsIsland(html: string): unknown {
  const m = /<script type="application\/json" id="strings">(.*?)<\/script>/s.exec(html);
  assert.ok(m, 'the page has a strings island');
  return JSON.parse(m[1]);
}

describe('report texts', () => {
  it('every text in the page is the one the caller passed', async () => {
    const pages = (await Promise.all([report(judgedRun, marked), report(sweepRun, marked)])).join('\n');
    // The markup alone: the islands hold every text anyway, and the script its English fallbacks.
    const markup = withoutScripts(pages);
    const absent = (Object.keys(ENGLISH_REPORT_STRINGS) as Array<keyof ReportStrings>).filter((k) => k !== 'lang' && !SCRIPT_ONLY.includes(k) && !markup.includes(`⟦${k}⟧`));
    assert.deepEqual(absent, [], 'texts the page does not take from the caller');
    // The placeholders are filled: the run line names the model, the swept layers and the counts.
    assert.ok(markup.includes('⟦model⟧m'), 'model filled in');
    assert.ok(markup.includes('⟦sweepOver⟧⟦layer⟧20, 22'), 'swept layers filled in');
    assert.ok(markup.includes('⟦vlmAt⟧gpt api.example'), 'answer model and host filled in');
    for (const english of ['Attention Prompting report', 'masked right, original wrong', 'Filter by id, question or answer', 'Re-run failed', 'answer (masked)', 'McNemar p']) {
      assert.ok(!markup.includes(english), `English "${english}" left in a translated page`);
    }
    assert.match(pages, /<html lang="x-test">/);
    assert.deepEqual(stringsIsland(pages), marked);
  });

  it('without strings (the CLI) the page is in English', async () => {
    const html = await report(judgedRun);
    assert.match(html, /<html lang="en">/);
    assert.match(html, /<h1>Attention Prompting report<\/h1>/);
    assert.ok(html.includes('model m layer 22 · contrast 5, kernel 3, lanczos3, gray 0, full geometry · VLM gpt at api.example'), 'English run line');
    assert.deepEqual(stringsIsland(html), ENGLISH_REPORT_STRINGS);
  });

  it('a text cannot close the strings island or add markup', async () => {
    const hostile = { ...ENGLISH_REPORT_STRINGS, title: '</script><script>alert(1)</script>', rowCount: '<img src=x onerror=alert(1)> {0}/{1}' };
    const html = await report(judgedRun, hostile);
    assert.ok(!html.includes('<script>alert(1)'), 'no script injected');
    assert.ok(!html.includes('<img src=x'), 'no markup injected');
    assert.deepEqual(stringsIsland(html), hostile);
  });
});
