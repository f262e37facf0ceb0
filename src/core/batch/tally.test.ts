import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BatchProgress } from './batchOptions';
import type { ResultRecord, ResultsLog } from './results';
import { Tally } from './tally';

const line = (id: string, failed = false): ResultRecord => ({
  id,
  image: `${id}.png`,
  question: 'q',
  parameters: { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', geometry: 'full' },
  model: 'm',
  layer: 1,
  timings: {},
  finishedAt: '2026-01-01T00:00:00.000Z',
  ...(failed ? { error: { stage: 'decode', message: 'broken' } } : {}),
});

describe('the tally of a run', () => {
  it('counts each recorded line as done or failed, appends it, and reports progress after each', () => {
    const appended: string[] = [];
    const progress: BatchProgress[] = [];
    const tally = new Tally(4, { append: (r: ResultRecord) => appended.push(r.id) } as unknown as ResultsLog, (p) => progress.push(p));
    tally.record(line('a'));
    tally.record(line('b', true));
    tally.skip('c');
    assert.deepEqual(appended, ['a', 'b'], 'a skipped item writes no line');
    assert.deepEqual([tally.done, tally.failed, tally.skipped, tally.processed], [1, 1, 1, 2]);
    assert.deepEqual(progress.map((p) => [p.current, p.done, p.failed, p.skipped, p.total]), [['a', 1, 0, 0, 4], ['b', 1, 1, 0, 4], ['c', 1, 1, 1, 4]]);
    assert.ok(progress.every((p) => Number.isFinite(p.rate) && p.rate >= 0));
  });

  it('counts the time of a model load apart (also when the load fails), and passes its result through', async () => {
    const tally = new Tally(1, { append: () => undefined } as unknown as ResultsLog);
    assert.equal(await tally.loading(async () => 'model'), 'model');
    const afterFirst = tally.loadMs;
    assert.ok(afterFirst > 0);
    await assert.rejects(tally.loading(async () => Promise.reject(new Error('no such model'))), /no such model/);
    assert.ok(tally.loadMs > afterFirst, 'the failed load is counted too');
  });
});
