/**
 * One batch run per output folder. The lock is a file created with O_EXCL holding the owner's
 * pid, its start time (Linux: /proc/<pid>/stat field 22, so a recycled pid is not mistaken for
 * the owner; elsewhere the pid alone) and host. A lock whose owner is gone is stale and is taken over; the takeover runs
 * under a second, short-lived O_EXCL file so two runs that find the same stale lock cannot both
 * win (the one that loses the takeover sees the winner's live lock and is refused).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AttentionPromptError } from '../errors';
import { isProcessRunning } from '../processAlive';

export const LOCK_FILE = '.attention-prompt.lock';

export interface LockOwner {
  pid: number;
  /** Process start time as the kernel counts it (clock ticks since boot); absent off Linux. */
  processStart?: string;
  host: string;
  startedAt: string;
  /** Unique per lock, so a takeover can tell "the stale lock I read" from a new one. */
  token: string;
}

/**
 * How a lock's owner is checked; tests pass other platforms' (no /proc on Windows or macOS: the
 * check is then pid-only, which can keep a recycled pid's lock but never takes over a live one).
 */
export interface LivenessProbe {
  platform: NodeJS.Platform;
  isRunning: (pid: number) => boolean;
  readProcStat: (pid: number) => string;
}

export const SYSTEM_PROBE: LivenessProbe = {
  platform: process.platform,
  isRunning: isProcessRunning,
  readProcStat: (pid) => fs.readFileSync(`/proc/${pid}/stat`, 'utf8'),
};

/** The kernel's start time of a process, or undefined off Linux or where /proc is not readable. */
export function processStartTime(pid: number, probe: LivenessProbe = SYSTEM_PROBE): string | undefined {
  if (probe.platform !== 'linux') return undefined;
  try {
    const stat = probe.readProcStat(pid);
    // Field 2 (comm) may contain spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `owner` is still running (unknowable for another host: assumed yes). */
export function ownerRunning(owner: LockOwner, probe: LivenessProbe = SYSTEM_PROBE): boolean {
  if (owner.host !== os.hostname()) return true;
  if (!probe.isRunning(owner.pid)) return false;
  const start = processStartTime(owner.pid, probe);
  return start === undefined || owner.processStart === undefined || start === owner.processStart;
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8'));
    return typeof o?.pid === 'number' && typeof o?.token === 'string' ? (o as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

function createExclusive(file: string, owner: LockOwner): boolean {
  try {
    fs.writeFileSync(file, JSON.stringify(owner) + '\n', { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Age after which an unreadable lock (a run killed between create and write) counts as stale. */
const UNREADABLE_GRACE_MS = 10_000;

function isStale(file: string, owner: LockOwner | undefined, probe: LivenessProbe): boolean {
  if (owner) return !ownerRunning(owner, probe);
  try {
    return Date.now() - fs.statSync(file).mtimeMs > UNREADABLE_GRACE_MS;
  } catch {
    return true;
  }
}

export class OutputLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(readonly file: string, private readonly token: string) {
    // A second Ctrl-C exits at once: the lock goes with it.
    process.on('exit', this.onExit);
  }

  /** Takes the folder's lock, or throws `output-locked` naming the run that holds it. */
  static acquire(outDir: string, probe: LivenessProbe = SYSTEM_PROBE): OutputLock {
    const file = path.join(outDir, LOCK_FILE);
    const me = (): LockOwner => ({ pid: process.pid, processStart: processStartTime(process.pid, probe), host: os.hostname(), startedAt: new Date().toISOString(), token: randomUUID() });
    for (let attempt = 0; attempt < 5; attempt++) {
      const owner = me();
      if (createExclusive(file, owner)) return new OutputLock(file, owner.token);
      const current = readOwner(file);
      if (!isStale(file, current, probe)) throw lockedError(outDir, file, current);
      takeOverStale(file, current?.token, probe);
    }
    throw lockedError(outDir, file, readOwner(file));
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    process.removeListener('exit', this.onExit);
    // Only our own lock: never one another run took over after ours was (wrongly) judged stale.
    if (readOwner(this.file)?.token === this.token) fs.rmSync(this.file, { force: true });
  }
}

/** Removes a stale lock, provided it is still the one judged stale, under a takeover lock. */
function takeOverStale(file: string, staleToken: string | undefined, probe: LivenessProbe): void {
  const guard = `${file}.takeover`;
  const me: LockOwner = { pid: process.pid, processStart: processStartTime(process.pid, probe), host: os.hostname(), startedAt: new Date().toISOString(), token: randomUUID() };
  if (!createExclusive(guard, me)) {
    // Another run is taking over right now (or died doing so: its guard is then stale too).
    const holder = readOwner(guard);
    if (isStale(guard, holder, probe) && readOwner(guard)?.token === holder?.token) fs.rmSync(guard, { force: true });
    return;
  }
  try {
    if (readOwner(file)?.token === staleToken) fs.rmSync(file, { force: true });
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

function lockedError(outDir: string, file: string, owner: LockOwner | undefined): AttentionPromptError {
  const who = owner ? `process ${owner.pid}${owner.host !== os.hostname() ? ` on ${owner.host}` : ''}, started ${owner.startedAt}` : 'another run';
  return new AttentionPromptError(
    'output-locked',
    `${outDir} is in use by ${who}. Wait for it to finish, or choose another --out folder${owner && owner.host !== os.hostname() ? ` (if that run is gone, delete ${file})` : ''}.`,
  );
}
