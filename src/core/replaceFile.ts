/**
 * Renaming a finished temp file over its target. On Windows a rename over a file that another
 * process holds open without sharing delete access (a virus scanner, the search indexer, another
 * VS Code window reading it) fails with EPERM, EBUSY or EACCES until that process lets go, usually
 * within milliseconds: the rename is retried with doubling pauses for a bounded time (as
 * graceful-fs and write-file-atomic do), then fails with a message naming the file. Elsewhere those
 * codes mean a real permission problem, so the first failure is final.
 */
import * as fs from 'node:fs';
import { REPLACE_RETRY_FIRST_PAUSE_MS, REPLACE_RETRY_TOTAL_MS } from './defaults';
import { AttentionPromptError } from './errors';

/** What a replace needs from the system; tests pass fakes to produce Windows' behaviour on Linux. */
export interface ReplaceOps {
  platform: NodeJS.Platform;
  rename: (from: string, to: string) => Promise<void>;
  renameSync: (from: string, to: string) => void;
  sleep: (ms: number) => Promise<void>;
  sleepSync: (ms: number) => void;
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4));

export const SYSTEM_REPLACE_OPS: ReplaceOps = {
  platform: process.platform,
  rename: (from, to) => fs.promises.rename(from, to),
  renameSync: (from, to) => fs.renameSync(from, to),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  // A synchronous writer has no event loop turn to give back: block this thread only.
  sleepSync: (ms) => void Atomics.wait(pauseCell, 0, 0, ms),
};

const IN_USE_CODES = new Set(['EPERM', 'EBUSY', 'EACCES']);
const isInUse = (e: unknown) => IN_USE_CODES.has((e as NodeJS.ErrnoException).code ?? '');

/** The pause before the next try, or undefined when the retry budget is spent or the error is final. */
function nextPause(e: unknown, platform: NodeJS.Platform, waited: number, previous: number): number | undefined {
  if (platform !== 'win32' || !isInUse(e)) return undefined;
  const left = REPLACE_RETRY_TOTAL_MS - waited;
  if (left <= 0) return undefined;
  return Math.min(previous ? previous * 2 : REPLACE_RETRY_FIRST_PAUSE_MS, left);
}

function inUseError(target: string, e: unknown, waited: number): AttentionPromptError {
  const code = (e as NodeJS.ErrnoException).code;
  return new AttentionPromptError(
    'file-in-use',
    `Could not replace ${target}: another program kept it open for ${(waited / 1000).toFixed(1)} s (${code}). ` +
      'Close what may be using it (another VS Code window, a viewer, a virus scan) and run again; the file was left as it was.',
    { cause: e },
  );
}

/** Renames `from` over `to`, retrying on Windows while another process holds `to` open. */
export async function replaceFile(from: string, to: string, ops: ReplaceOps = SYSTEM_REPLACE_OPS): Promise<void> {
  let waited = 0;
  let pause = 0;
  for (;;) {
    try {
      return await ops.rename(from, to);
    } catch (e) {
      const next = nextPause(e, ops.platform, waited, pause);
      if (next === undefined) throw waited > 0 && isInUse(e) ? inUseError(to, e, waited) : e;
      await ops.sleep(next);
      waited += next;
      pause = next;
    }
  }
}

/** replaceFile for synchronous writers. */
export function replaceFileSync(from: string, to: string, ops: ReplaceOps = SYSTEM_REPLACE_OPS): void {
  let waited = 0;
  let pause = 0;
  for (;;) {
    try {
      return ops.renameSync(from, to);
    } catch (e) {
      const next = nextPause(e, ops.platform, waited, pause);
      if (next === undefined) throw waited > 0 && isInUse(e) ? inUseError(to, e, waited) : e;
      ops.sleepSync(next);
      waited += next;
      pause = next;
    }
  }
}
