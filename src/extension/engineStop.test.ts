/**
 * Stopping the engine process the same way on every platform: asked over its channel first (on
 * Windows a kill is immediate, with no SIGTERM for the process to handle), killed only after a
 * grace period. Stand-in scripts play the engine.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers';
import { isProcessRunning } from '../core/processAlive';
import { EngineClient } from './engineClient';

/** Polls `done` every 50 ms for at most 10 s (the repro without the fix never gets there). */
async function eventually(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
  return done();
}

/** Starts a stand-in engine from `source` and returns it once it runs (a request it never answers starts it). */
async function standIn(source: string, stopGraceMs?: number) {
  const dir = tempDir('ap-engine-stop-');
  const script = path.join(dir, 'engine.js');
  fs.writeFileSync(script, source);
  const logs: string[] = [];
  const client = new EngineClient({ scriptPath: script, idleMs: 0, log: (l, m) => logs.push(`${l} ${m}`), stopGraceMs });
  const never = client.request('release', {}).catch((e: Error & { code?: string }) => e.code);
  assert.ok(await eventually(() => logs.some((l) => l.includes('ready'))), `the stand-in started: ${logs.join(' | ')}`);
  return { client, pid: client.pid!, dir, logs, never };
}

describe('stopping the engine process', () => {
  it('asks it to exit over its channel first, so it can finish what it was writing', async () => {
    // Like the engine: exits on 'disconnect', here after leaving a mark of having been asked.
    const { client, pid, dir, logs, never } = await standIn(`
      process.on('message', () => {});
      process.on('disconnect', () => { require('fs').writeFileSync(require('path').join(__dirname, 'asked'), 'yes'); process.exit(0); });
      console.log('ready');
    `);
    client.dispose();
    assert.equal(await never, 'engine-stopped', 'pending requests fail at once');
    assert.equal(client.running, false);
    assert.ok(await eventually(() => !isProcessRunning(pid)), 'the process ended');
    assert.ok(fs.existsSync(path.join(dir, 'asked')), 'it was asked to exit, not killed');
    assert.ok(!logs.some((l) => l.includes('killing')), logs.join(' | '));
  });

  it('kills a process that does not exit within the grace period, with a log line', async () => {
    const { client, pid, logs } = await standIn(`
      process.on('message', () => {});
      process.on('disconnect', () => {});
      process.on('SIGTERM', () => {});
      setInterval(() => {}, 1000);
      console.log('ready');
    `, 200);
    try {
      client.dispose();
      assert.ok(await eventually(() => !isProcessRunning(pid)), 'the process ended');
    } finally {
      // A stand-in that ignores SIGTERM would outlive a failed test.
      if (isProcessRunning(pid)) process.kill(pid, 'SIGKILL');
    }
    assert.ok(logs.some((l) => l.startsWith('warn') && l.includes(`engine process ${pid} did not exit within 200 ms`)), logs.join(' | '));
  });
});
