import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { interrupt } from './main';

// The child: this same bundle, started with AP_EXIT_CHILD, keeps a libuv worker busy for minutes
// (as a long libvips decode does) and quits the way bin.ts does on a signal.
if (process.env.AP_EXIT_CHILD) {
  crypto.pbkdf2('busy', 'worker', 2_000_000_000, 64, 'sha512', () => undefined);
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  process.stdout.write('ready\n');
  setInterval(() => undefined, 1000);
} else {
  describe('Ctrl-C and SIGTERM end the CLI at once, even while a worker thread is busy', () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`${signal}: gone within 10 s (it waited for the worker before: minutes)`, async () => {
        const child = spawn(process.execPath, [__filename], { env: { ...process.env, AP_EXIT_CHILD: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
        const gone = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, sig) => resolve({ code, signal: sig })));
        child.kill(signal);
        const limit = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const end = await gone;
        clearTimeout(limit);
        assert.deepEqual(end, { code: null, signal }, `ended by its own ${signal}, not killed after 10 s`);
        assert.match(stderr, /attention-prompt: interrupted/);
      });
    }
  });
}
