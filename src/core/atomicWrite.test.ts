import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers';
import { tempPathFor, writeAtomic, writeFileAtomicSync } from './atomicWrite';
import { REPLACE_RETRY_TOTAL_MS } from './defaults';
import type { ReplaceOps } from './replaceFile';

const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

describe('atomic writes', () => {
  it('two concurrent writers in one process never share a temp file', async () => {
    const dir = tempDir();
    const target = path.join(dir, 'report.html');
    // Each writer streams in steps, so the two interleave; with temp names by process id only,
    // the second would truncate the first's temp file and one rename would fail.
    const writer = (text: string) =>
      writeAtomic(target, async (tmp) => {
        const out = await fs.promises.open(tmp, 'wx');
        for (let i = 0; i < 5; i++) {
          await out.write(text.repeat(1000));
          await sleep(2);
        }
        await out.close();
        return text;
      });
    const results = await Promise.all([writer('a'), writer('b')]);
    assert.deepEqual(results, ['a', 'b']);
    const content = fs.readFileSync(target, 'utf8');
    assert.ok(content === 'a'.repeat(5000) || content === 'b'.repeat(5000), 'one whole version, not a mix');
    assert.deepEqual(leftovers(dir), []);
  });

  it('a failed writer leaves the old file and no temp file', async () => {
    const dir = tempDir();
    const target = path.join(dir, 'graph.onnx');
    fs.writeFileSync(target, 'old');
    await assert.rejects(
      writeAtomic(target, async (tmp) => {
        fs.writeFileSync(tmp, 'half of the new');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.equal(fs.readFileSync(target, 'utf8'), 'old');
    assert.deepEqual(leftovers(dir), []);
  });

  it('the synchronous form replaces the file and cleans up after a failure', () => {
    const dir = tempDir();
    const target = path.join(dir, 'results.jsonl');
    writeFileAtomicSync(target, 'one\n');
    writeFileAtomicSync(target, Buffer.from('two\n'));
    assert.equal(fs.readFileSync(target, 'utf8'), 'two\n');
    // Renaming over a folder fails: the temp file must not stay behind.
    const folder = path.join(dir, 'a-folder');
    fs.mkdirSync(path.join(folder, 'inside'), { recursive: true });
    assert.throws(() => writeFileAtomicSync(folder, 'x'));
    assert.deepEqual(leftovers(dir), []);
  });

  it('temp names are unique and sit beside the target', () => {
    const names = new Set(Array.from({ length: 1000 }, () => tempPathFor('/data/out/report.html')));
    assert.equal(names.size, 1000);
    for (const n of names) assert.equal(path.dirname(n), '/data/out');
  });

  /**
   * Windows: renaming over a file another process holds open fails with EPERM/EBUSY until it lets
   * go. Produced here with a rename that fails `busyTries` times, then renames for real.
   */
  function windowsWhileOpen(busyTries: number, code = 'EPERM') {
    const pauses: number[] = [];
    let renames = 0;
    const busy = () => Object.assign(new Error(`${code}: operation not permitted, rename`), { code });
    const ops: ReplaceOps = {
      platform: 'win32',
      rename: async (from, to) => {
        if (renames++ < busyTries) throw busy();
        await fs.promises.rename(from, to);
      },
      renameSync: (from, to) => {
        if (renames++ < busyTries) throw busy();
        fs.renameSync(from, to);
      },
      sleep: async (ms) => void pauses.push(ms),
      sleepSync: (ms) => void pauses.push(ms),
    };
    return { ops, pauses, renames: () => renames };
  }

  it('on Windows, a replace retries while another process holds the target open (both forms)', async () => {
    const dir = tempDir();
    const target = path.join(dir, 'summary.json');
    fs.writeFileSync(target, 'old');
    const sync = windowsWhileOpen(3, 'EBUSY');
    writeFileAtomicSync(target, 'new', sync.ops);
    assert.equal(fs.readFileSync(target, 'utf8'), 'new');
    assert.equal(sync.renames(), 4, 'three refusals, then the rename');
    assert.deepEqual(sync.pauses, [10, 20, 40], 'doubling pauses');

    const streamed = windowsWhileOpen(2);
    await writeAtomic(target, async (tmp) => fs.promises.writeFile(tmp, 'newer'), streamed.ops);
    assert.equal(fs.readFileSync(target, 'utf8'), 'newer');
    assert.equal(streamed.renames(), 3);
    assert.deepEqual(leftovers(dir), []);
  });

  it('on Windows, a file held open for good fails after a bounded wait with a clear error, the old file kept', async () => {
    const dir = tempDir();
    const target = path.join(dir, 'report.html');
    fs.writeFileSync(target, 'old');
    const held = windowsWhileOpen(Infinity);
    assert.throws(() => writeFileAtomicSync(target, 'new', held.ops), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'file-in-use');
      assert.match(e.message, /report\.html/);
      assert.match(e.message, /EPERM/);
      assert.match(e.message, /Close what may be using it/);
      return true;
    });
    assert.equal(held.pauses.reduce((a, b) => a + b, 0), REPLACE_RETRY_TOTAL_MS, 'waits the whole budget, no more');
    const heldAsync = windowsWhileOpen(Infinity);
    await assert.rejects(writeAtomic(target, async (tmp) => fs.promises.writeFile(tmp, 'new'), heldAsync.ops), { code: 'file-in-use' });
    assert.equal(heldAsync.pauses.reduce((a, b) => a + b, 0), REPLACE_RETRY_TOTAL_MS);
    assert.equal(fs.readFileSync(target, 'utf8'), 'old');
    assert.deepEqual(leftovers(dir), []);
  });

  it('EPERM off Windows, or another error on Windows, fails at once (a real permission problem is not retried)', () => {
    const dir = tempDir();
    const target = path.join(dir, 'a.json');
    const linux = windowsWhileOpen(Infinity);
    assert.throws(() => writeFileAtomicSync(target, 'x', { ...linux.ops, platform: 'linux' }), { code: 'EPERM' });
    assert.deepEqual(linux.pauses, []);
    const missing = windowsWhileOpen(Infinity, 'ENOENT');
    assert.throws(() => writeFileAtomicSync(target, 'x', missing.ops), { code: 'ENOENT' });
    assert.deepEqual(missing.pauses, []);
    assert.deepEqual(leftovers(dir), []);
  });
});
