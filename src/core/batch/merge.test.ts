import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers';
import { GRADER_PROMPT_ID } from './judge';
import { mergeOutputs } from './merge';
import { rescoreOutput } from './rescore';
import type { ResultRecord } from './results';
import { OutputLock } from './outputLock';
import { RunSettings, writeRunSettings } from './runSettings';
import { shardOf } from './shards';
import { AttentionPromptError } from '../errors';
import { runMergeCommand } from '../../cli/score';

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

describe('merge: only the parts of one run, under the output lock', () => {
  const settings = (extra: RunSettings = {}): RunSettings => ({ input: '/data', question: 'what colour?', model: 'm', layer: 2, contrast: 5, kernel: 3, gray: 0, shard: null, sweep: null, ...extra });
  const ids = Array.from({ length: 10 }, (_, i) => `item${i + 1}`);

  /** Shard `label` of a ten-item run: its items' lines, settings.json and summary.json (total = its items). */
  function shardOut(dir: string, label: string, extra: RunSettings = {}, limit = Infinity): void {
    const [index, count] = label.split('/').map(Number);
    const mine = ids.filter((id) => shardOf(id, count) === index);
    writeOut(dir, mine.slice(0, limit).map((id) => record(id)), { model: 'm', parameters, shard: label, total: mine.length });
    writeRunSettings(dir, settings({ ...extra, shard: label }));
  }

  it('refuses to merge into a folder a batch run holds, and leaves its results as they were', async () => {
    const out = path.join(tempDir('ap-merge-'), 'out');
    writeOut(out, [record('a'), record('b')]);
    const before = fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8');
    const batch = OutputLock.acquire(out); // what a running batch holds
    try {
      await assert.rejects(mergeOutputs([out], out, 'exact'), (e: unknown) => e instanceof AttentionPromptError && e.code === 'output-locked');
      fs.appendFileSync(path.join(out, 'results.jsonl'), JSON.stringify(record('c')) + '\n'); // the batch goes on appending
    } finally {
      batch.release();
    }
    assert.equal(fs.readFileSync(path.join(out, 'results.jsonl'), 'utf8'), before + JSON.stringify(record('c')) + '\n');
  });

  for (const [key, value] of [['question', 'what shape?'], ['layer', 3], ['contrast', 2], ['gray', 200]] as const) {
    it(`refuses shards run with a different ${key}, naming it`, async () => {
      const work = tempDir('ap-merge-');
      const [a, b, out] = ['a', 'b', 'out'].map((n) => path.join(work, n));
      shardOut(a, '0/2');
      shardOut(b, '1/2', { [key]: value });
      await assert.rejects(mergeOutputs([a, b], out, 'exact'), (e: unknown) => {
        assert.ok(e instanceof AttentionPromptError && e.code === 'settings-changed', String(e));
        assert.match(e.message, new RegExp(`${key}: ${JSON.stringify(settings()[key])} → ${JSON.stringify(value)}`.replace(/\?/g, '\\?')));
        assert.ok(e.message.includes(b) && e.message.includes('--allow-changed-settings'), e.message);
        return true;
      });
      assert.equal(fs.existsSync(path.join(out, 'results.jsonl')), false);
      // Asked for, the mix is merged and the difference recorded.
      const r = await mergeOutputs([a, b], out, 'exact', { allowChangedSettings: true });
      assert.equal(r.records, 10);
      assert.equal(r.summary.changedSettings && (r.summary.changedSettings as string[]).length, 1);
    });
  }

  it('refuses shards of different counts (0/2 + 1/3)', async () => {
    const work = tempDir('ap-merge-');
    const [a, b, out] = ['a', 'b', 'out'].map((n) => path.join(work, n));
    shardOut(a, '0/2');
    shardOut(b, '1/3');
    await assert.rejects(mergeOutputs([a, b], out, 'exact'), /split the items differently.*shard 0\/2.*shard 1\/3/);
  });

  it('reports a missing shard and the items a shard left out; a complete merge says so', async () => {
    const work = tempDir('ap-merge-');
    const [a, b, c, out1, out2] = ['a', 'b', 'c', 'out1', 'out2'].map((n) => path.join(work, n));
    shardOut(a, '0/3');
    shardOut(b, '1/3', {}, 1); // interrupted after one item
    shardOut(c, '2/3');
    const partial = await mergeOutputs([a, b], out1, 'exact');
    assert.deepEqual(partial.missingShards, ['2/3']);
    assert.equal(partial.summary.complete, false);
    // The CLI says so and exits 1.
    const said = { out: '', err: '' };
    const io = { out: { write: (t: string) => (said.out += t) }, err: { write: (t: string) => (said.err += t) } } as unknown as Parameters<typeof runMergeCommand>[1];
    assert.equal(await runMergeCommand([a, b, '--out', path.join(work, 'cli')], io), 1);
    assert.match(said.err, /incomplete: no folder holds shard 2\/3/);
    const short = await mergeOutputs([a, b, c], out2, 'exact');
    assert.deepEqual(short.missingShards, []);
    const inB = ids.filter((id) => shardOf(id, 3) === 1).length;
    assert.equal(short.missing, inB - 1);
    assert.equal(short.summary.total, 10);
    assert.equal(short.summary.complete, false);
    fs.rmSync(b, { recursive: true });
    shardOut(b, '1/3');
    // An earlier merge of 0/3 and 1/3 knows it holds those two: with 2/3 it makes the whole run.
    const again = await mergeOutputs([out1, c], path.join(work, 'again'), 'exact');
    assert.deepEqual(again.missingShards, []);
    assert.equal(again.records, ids.filter((id) => shardOf(id, 3) !== 1).length + 1);
    assert.equal(again.missing, inB - 1, 'the items 1/3 left out are still counted missing');
    const full = await mergeOutputs([a, b, c], path.join(work, 'out4'), 'exact');
    assert.equal(full.records, 10);
    assert.equal(full.missing, undefined);
    assert.equal(full.summary.complete, true);
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
