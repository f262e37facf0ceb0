/**
 * Replacing a file so that a reader sees the old bytes or the new ones, never a mix, and a crash
 * leaves at most a stray temp file: write beside the target under a unique name, flush, rename.
 * The temp name holds the process id and random bytes, so neither two processes nor two
 * concurrent writers in one process ever share one. The rename waits out another process that
 * holds the target open on Windows (replaceFile.ts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { replaceFile, replaceFileSync, SYSTEM_REPLACE_OPS, type ReplaceOps } from './replaceFile';

/** A fresh temp path in the target's folder (a rename within one file system is atomic). */
export function tempPathFor(target: string): string {
  return `${target}.${process.pid}-${crypto.randomBytes(6).toString('hex')}.tmp`;
}

/** Writes `data` to `target` atomically (synchronously). */
export function writeFileAtomicSync(target: string, data: string | Uint8Array, ops: ReplaceOps = SYSTEM_REPLACE_OPS): void {
  const tmp = tempPathFor(target);
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    replaceFileSync(tmp, target, ops);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * For writers that stream or copy: `write` fills the temp path it is given (and closes what it
 * opened); then the file is flushed and renamed over `target`. If `write` throws, the temp file
 * is removed and `target` is left as it was.
 */
export async function writeAtomic<T>(target: string, write: (tempPath: string) => Promise<T>, ops: ReplaceOps = SYSTEM_REPLACE_OPS): Promise<T> {
  const tmp = tempPathFor(target);
  try {
    const result = await write(tmp);
    const handle = await fs.promises.open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await replaceFile(tmp, target, ops);
    return result;
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}
