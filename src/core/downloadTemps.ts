/**
 * Download temp files (atomicWrite's `<target>.<pid>-<hex>.tmp`): the ones in flight are removed
 * when the process exits or is interrupted, and the ones a killed process left behind (its pid no
 * longer running) are swept on a later start. A large model's temp file is about 1 GB.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isProcessRunning } from './processAlive';

const TEMP_NAME = /\.(\d+)-[0-9a-f]{12}\.tmp$/;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const inFlight = new Set<string>();
let hooked = false;

/** Removes the temp files of downloads in flight now (also done on exit and on a signal nobody else handles). */
export function removeInFlight(): void {
  for (const p of inFlight) {
    try {
      fs.rmSync(p, { force: true });
    } catch {
      // Still open elsewhere (Windows): the next start's sweep removes it.
    }
  }
  inFlight.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // With other listeners (the CLI's Ctrl-C handling, which may stop gracefully and let a download
  // finish) they decide, and 'exit' cleans up. Alone, our listener replaced Node's default (die):
  // clean up, restore the default and die of the same signal.
  if (process.listenerCount(signal) > 1) return;
  removeInFlight();
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', removeInFlight);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

/** Registers a temp file being written; `done` unregisters it (renamed or removed). */
export function trackTemp(tempPath: string): { done(): void } {
  hook();
  inFlight.add(tempPath);
  return { done: () => inFlight.delete(tempPath) };
}

/** Removes temp files under `dir` whose writing process is gone; returns their paths. */
export function sweepStaleTemps(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const m = entry.isFile() ? TEMP_NAME.exec(entry.name) : null;
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isProcessRunning(pid)) continue;
    const p = path.join(entry.parentPath, entry.name);
    try {
      fs.rmSync(p, { force: true });
      removed.push(p);
    } catch {
      // Another sweeper got there first, or no permission: harmless either way.
    }
  }
  return removed;
}
