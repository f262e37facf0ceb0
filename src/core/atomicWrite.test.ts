import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers';
import { tempPathFor, writeAtomic, writeFileAtomicSync } from './atomicWrite';

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
});
