import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers';
import { GRADER_PROMPT_ID } from './judge';
import { mergeOutputs } from './merge';
import { rescoreOutput } from './rescore';
import type { ResultRecord } from './results';

const parameters = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', geometry: 'full' };

function record(id: string, extra: Partial<ResultRecord> = {}): ResultRecord {
  return { id, image: `/data/${id}.png`, question: 'what colour?', parameters, model: 'm', layer: 2, timings: {}, finishedAt: '2026-01-01T00:00:00Z', ...extra };
}

function writeOut(dir: string, records: ResultRecord[], summary: object = { model: 'm', parameters }): void {
  fs.mkdirSync(path.join(dir, 'thumbs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'results.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary));
  for (const r of records) if (r.outputs?.thumbs) fs.writeFileSync(path.join(dir, r.outputs.thumbs.original), `thumb of ${r.id}`);
}

const thumbs = (id: string) => ({ masked: `masked/${id}.png`, overlay: `overlays/${id}.jpg`, thumbs: { original: `thumbs/${id}.original.jpg`, overlay: `thumbs/${id}.overlay.jpg`, masked: `thumbs/${id}.masked.jpg` } });
const lines = (file: string): ResultRecord[] => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('merge', () => {
  it('each id once: a success replaces a failure, identical lines are duplicates, different answers are conflicts', async () => {
    const work = tempDir('ap-merge-');
    const [a, b, out] = ['a', 'b', 'merged'].map((n) => path.join(work, n));
    writeOut(a, [
      record('item2', { maskedAnswer: 'red', originalAnswer: 'blue', answer: 'red', outputs: thumbs('item2') }),
      record('item10', { error: { stage: 'vlm-masked', message: '500' } }),
      record('item3', { maskedAnswer: 'green', originalAnswer: 'green', answer: 'green' }),
    ]);
    writeOut(b, [
      record('item10', { maskedAnswer: 'red', originalAnswer: 'red', answer: 'blue', outputs: thumbs('item10') }),
      record('item3', { maskedAnswer: 'green', originalAnswer: 'green', answer: 'green', timings: { total: 9 } }),
      record('item2', { maskedAnswer: 'blue', originalAnswer: 'blue', answer: 'red' }),
      record('item1', { error: { stage: 'decode', message: 'bad png' } }),
    ]);
    const r = await mergeOutputs([a, b], out, 'exact');
    const merged = lines(path.join(out, 'results.jsonl'));
    assert.deepEqual(merged.map((m) => m.id), ['item1', 'item2', 'item3', 'item10']);
    assert.equal(merged[3].maskedAnswer, 'red'); // b's success replaced a's failure
    assert.equal(merged[1].maskedAnswer, 'red'); // conflict: a's line kept
    assert.equal(r.duplicates, 1);
    assert.deepEqual(r.conflicts, [{ id: 'item2', setting: undefined, folders: [a, b], fields: ['maskedAnswer'] }]);
    assert.equal(r.failed, 1);
    assert.equal(fs.readFileSync(path.join(out, 'thumbs', 'item2.original.jpg'), 'utf8'), 'thumb of item2');
    assert.equal(fs.readFileSync(path.join(out, 'thumbs', 'item10.original.jpg'), 'utf8'), 'thumb of item10');
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.equal(summary.total, 4);
    assert.equal(summary.conflicts.length, 1);
  });

  it('refuses to merge into a folder that already has results', async () => {
    const work = tempDir('ap-merge-');
    writeOut(path.join(work, 'a'), [record('x')]);
    writeOut(path.join(work, 'out'), [record('y')]);
    await assert.rejects(mergeOutputs([path.join(work, 'a')], path.join(work, 'out'), 'exact'), /already has results: merge into an empty folder/);
    await assert.rejects(mergeOutputs([path.join(work, 'nope')], path.join(work, 'o2'), 'exact'), /nope[/\\]results.jsonl not found/);
  });
});

describe('rescoring saved answers', () => {
  it('recomputes scores and the comparison from results.jsonl, dropping a partial line', async () => {
    const dir = tempDir('ap-rescore-');
    writeOut(dir, [
      record('1', { maskedAnswer: 'Two.', originalAnswer: 'three', answer: '2', category: 'count' }),
      record('2', { maskedAnswer: 'B', originalAnswer: 'red', answer: 'green', choices: ['red', 'green'], category: 'colour' }),
      record('3', { maskedAnswer: 'no', originalAnswer: 'yes', answer: 'yes', category: 'count' }),
      record('4', { maskedAnswer: 'x', originalAnswer: 'y' }), // no ground truth
    ]);
    fs.appendFileSync(path.join(dir, 'results.jsonl'), '{"id":"5","image":');
    const r = await rescoreOutput(dir, 'exact');
    assert.equal(r.records, 4);
    assert.equal(r.scored, 3);
    assert.equal(r.judgeRequests, 0);
    const recs = lines(path.join(dir, 'results.jsonl'));
    assert.equal(recs.length, 4);
    assert.deepEqual(recs[0].scores, { masked: { exact: 1, contains: 1 }, original: { exact: 0, contains: 0 } });
    assert.deepEqual(recs[1].scores?.masked?.choice, { picked: 'B', correct: 1 });
    assert.equal(recs[3].scores, undefined);
    const c = r.summary.comparison!;
    assert.deepEqual([c.overall.masked.right, c.overall.masked.n, c.overall.original.right, c.overall.original.n], [2, 3, 1, 3]);
    const t = c.overall.table;
    assert.deepEqual([t.bothRight, t.onlyMaskedRight, t.onlyOriginalRight, t.bothWrong], [0, 2, 1, 0]);
    assert.equal(t.mcnemarP, 1); // 2 vs 1: 2·(1 + 3)/8 = 1
    assert.deepEqual(Object.keys(c.categories), ['colour', 'count']);
    assert.equal(c.categories.count.masked.right, 1);
    assert.equal(c.unscored, 1);
    // summary.json keeps the run's fields and gains the comparison.
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    assert.equal(summary.model, 'm');
    assert.equal(summary.comparison.overall.paired, 3);
  });

  it('keeps judge grades made with the same prompt; the judge metric uses them', async () => {
    const dir = tempDir('ap-rescore-');
    const judged = (score: number) => ({ exact: 0 as const, contains: 0 as const, judge: { score, model: 'g', prompt: GRADER_PROMPT_ID, raw: [String(score)] } });
    writeOut(dir, [record('1', { maskedAnswer: 'a long answer', originalAnswer: 'another', answer: 'truth', scores: { masked: judged(0.9), original: judged(0.2) } })]);
    const r = await rescoreOutput(dir, 'judge');
    assert.equal(r.judgeRequests, 0);
    assert.equal(r.summary.comparison!.overall.table.onlyMaskedRight, 1);
    assert.deepEqual(r.summary.comparison!.overall.judgeMean, { masked: 0.9, original: 0.2 });
    assert.equal(r.summary.judge!.pass, 0.5);
  });
});
