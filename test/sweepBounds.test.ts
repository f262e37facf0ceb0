/**
 * A sweep value outside the mask parameters' bounds is refused before anything runs, whichever
 * order it comes in (issue 23 §1: `contrast=5,50` ran contrast 50 silently, `contrast=50,5`
 * failed every item, the contrast=5 ones too); values within bounds run in either order.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { runBatch } from '../src/core/batch/runner';
import { CLI, PLANTED_CLIP, batchOptions, makeImages, readResultLines } from './batchSetup';
import { tempDir } from './helpers';

describe('sweep values and their bounds', () => {
  const work = tempDir('ap-sweep-bounds-');
  const dataset = path.join(work, 'images');
  const cacheDir = path.join(work, 'cache');
  before(() => makeImages(dataset, 3));

  for (const values of ['5,50', '50,5']) {
    it(`--sweep contrast=${values} is a usage error naming 50 and the bound; no output folder is made`, () => {
      const out = path.join(work, `cli-${values}`);
      const r = spawnSync(process.execPath, [CLI, 'batch', dataset, '--question', 'red', '--no-vlm', '--out', out, '--model', PLANTED_CLIP, '--offline', '--cache-dir', cacheDir, '--threads', '1', '--sweep', `contrast=${values}`], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 2, `exit code of a usage error: ${r.stderr}`);
      assert.match(r.stderr, /--sweep contrast=.*Contrast must be a number from 0 to 20, got 50\./);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!fs.existsSync(out), 'nothing ran: the output folder was not made');
    });

    it(`runBatch with sweep contrast ${values} refuses before the output folder is made`, async () => {
      const out = path.join(work, `api-${values}`);
      const contrast = values.split(',').map(Number);
      await assert.rejects(runBatch(batchOptions(dataset, out, cacheDir, { sweep: { contrast } })), { code: 'bad-parameter', message: 'Contrast must be a number from 0 to 20, got 50.' });
      assert.ok(!fs.existsSync(out), 'nothing ran: the output folder was not made');
    });
  }

  it('valid values run in either order, each setting with its own mask: the first (from the model) equals the re-made one', async () => {
    const masks: Record<string, Record<string, Buffer>> = {};
    for (const contrast of [[2, 10], [10, 2]]) {
      const out = path.join(work, `valid-${contrast.join('-')}`);
      const summary = await runBatch(batchOptions(dataset, out, cacheDir, { sweep: { contrast } }));
      assert.deepEqual([summary.done, summary.failed], [6, 0]);
      const lines = readResultLines(path.join(out, 'results.jsonl'));
      assert.deepEqual(lines.map((l) => l.setting).sort(), ['contrast=10', 'contrast=10', 'contrast=10', 'contrast=2', 'contrast=2', 'contrast=2']);
      for (const l of lines) assert.equal(`contrast=${l.parameters.contrast}`, l.setting);
      masks[contrast.join(',')] = Object.fromEntries(lines.map((l) => [`${l.id} ${l.setting}`, fs.readFileSync(path.join(out, l.outputs!.masked))]));
    }
    const [ascending, descending] = [masks['2,10'], masks['10,2']];
    for (const key of Object.keys(ascending)) assert.ok(ascending[key].equals(descending[key]), `${key}: the same mask whichever order made it`);
    assert.ok(!ascending['img000 contrast=2'].equals(ascending['img000 contrast=10']), 'the two contrasts give different masks');
  });

  it('a kernel sweep value outside KERNEL_SIZES is refused the same way', async () => {
    const out = path.join(work, 'api-kernel');
    await assert.rejects(runBatch(batchOptions(dataset, out, cacheDir, { sweep: { kernel: [3, 11] } })), { code: 'bad-parameter', message: 'Kernel must be an odd integer from 1 to 9, got 11.' });
    assert.ok(!fs.existsSync(out));
  });
});
