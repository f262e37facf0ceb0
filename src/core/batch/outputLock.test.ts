/**
 * The output lock's liveness check off Linux: Windows and macOS have no /proc, so a lock's owner
 * is judged by its pid alone. That may keep a lock whose pid was recycled (refused, with the file
 * to delete), but must never take over the lock of a run that is still going.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers';
import { LOCK_FILE, OutputLock, type LivenessProbe, ownerRunning, processStartTime } from './outputLock';

const LIVE_PID = 4242;
/** /proc/<pid>/stat with start time (field 22) `start`; comm with spaces and a ')' as Linux allows. */
const procStat = (pid: number, start: string) => `${pid} (a (b) c) S ${Array.from({ length: 18 }, (_, i) => i + 1).join(' ')} ${start} 0 0`;

/** A machine where only LIVE_PID runs; `proc` answers /proc reads (undefined: there is no /proc). */
function machine(platform: NodeJS.Platform, proc?: (pid: number) => string): LivenessProbe & { procReads: number } {
  const probe = {
    platform,
    procReads: 0,
    isRunning: (pid: number) => pid === LIVE_PID,
    readProcStat: (pid: number) => {
      probe.procReads++;
      if (!proc) throw Object.assign(new Error(`ENOENT: no such file or directory, open '/proc/${pid}/stat'`), { code: 'ENOENT' });
      return proc(pid);
    },
  };
  return probe;
}

const owner = (pid: number, processStart?: string) => ({ pid, processStart, host: os.hostname(), startedAt: '2026-01-01T00:00:00Z', token: 'run-1' });

describe('output lock liveness on each platform', () => {
  it('reads the start time on Linux only (field 22, after a comm with spaces and parentheses)', () => {
    assert.equal(processStartTime(LIVE_PID, machine('linux', (pid) => procStat(pid, '777'))), '777');
    for (const platform of ['win32', 'darwin'] as const) {
      const probe = machine(platform, (pid) => procStat(pid, '777'));
      assert.equal(processStartTime(LIVE_PID, probe), undefined, platform);
      assert.equal(probe.procReads, 0, `${platform}: no /proc to read`);
    }
    assert.equal(processStartTime(LIVE_PID, machine('linux')), undefined, 'an unreadable /proc (hidepid) counts as unknown');
  });

  it('without /proc, a live owner is running whatever start time its lock recorded; a gone one is not', () => {
    for (const probe of [machine('win32'), machine('darwin'), machine('linux')]) {
      assert.equal(ownerRunning(owner(LIVE_PID, '123456'), probe), true, `${probe.platform}: a lock written on Linux`);
      assert.equal(ownerRunning(owner(LIVE_PID), probe), true, `${probe.platform}: a lock written without a start time`);
      assert.equal(ownerRunning(owner(LIVE_PID + 1), probe), false, `${probe.platform}: the owner is gone`);
    }
    // With /proc a recycled pid is told apart by its start time.
    const linux = machine('linux', (pid) => procStat(pid, '999'));
    assert.equal(ownerRunning(owner(LIVE_PID, '123456'), linux), false);
    assert.equal(ownerRunning(owner(LIVE_PID, '999'), linux), true);
  });

  it('on Windows and macOS a running run keeps its folder; a dead one\'s lock is taken over', () => {
    for (const platform of ['win32', 'darwin'] as const) {
      const out = tempDir('ap-lock-platform-');
      const lockFile = path.join(out, LOCK_FILE);
      fs.writeFileSync(lockFile, JSON.stringify(owner(LIVE_PID, '123456')));
      assert.throws(() => OutputLock.acquire(out, machine(platform)), { code: 'output-locked', message: new RegExp(`in use by process ${LIVE_PID}`) }, platform);
      assert.equal(JSON.parse(fs.readFileSync(lockFile, 'utf8')).token, 'run-1', 'the live run\'s lock is untouched');
      fs.writeFileSync(lockFile, JSON.stringify(owner(LIVE_PID + 1)));
      const lock = OutputLock.acquire(out, machine(platform));
      const taken = JSON.parse(fs.readFileSync(lockFile, 'utf8'));
      assert.equal(taken.pid, process.pid);
      assert.equal(taken.processStart, undefined, `${platform}: no start time to record`);
      lock.release();
      assert.ok(!fs.existsSync(lockFile));
    }
  });
});
