/**
 * The host's side of the engine process: starts it on first use (child_process.fork, so a native
 * crash in onnxruntime or sharp takes down only the child), correlates requests and replies,
 * forwards cancellation, restarts after a crash, and releases the process after an idle period.
 * No vscode import: unit-tested without VS Code.
 */
import { ChildProcess, fork } from 'node:child_process';
import type { EngineMessage, EngineProgress, EngineRequest, EngineResult } from '../shared/protocol';

export class EngineError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'EngineError';
  }
}

type Method = EngineRequest['method'];
type ParamsOf<M extends Method> = Extract<EngineRequest, { method: M }>['params'];

interface Pending {
  resolve: (r: EngineResult) => void;
  reject: (e: Error) => void;
  onProgress?: (p: EngineProgress) => void;
}

export interface EngineClientOptions {
  /** The bundled engine process script (dist/engine.js). */
  scriptPath: string;
  /** Release the process after this long without requests (0: never). */
  idleMs: number;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  env?: NodeJS.ProcessEnv;
}

export class EngineClient {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private idleTimer: NodeJS.Timeout | undefined;
  /** How many processes were started (for tests and the log). */
  starts = 0;

  constructor(private readonly opts: EngineClientOptions) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  request<M extends Method>(method: M, params: ParamsOf<M>, options: { signal?: AbortSignal; onProgress?: (p: EngineProgress) => void } = {}): Promise<EngineResult> {
    if (options.signal?.aborted) return Promise.reject(new EngineError('cancelled', 'Cancelled.'));
    const child = this.ensureStarted();
    const id = this.nextId++;
    this.clearIdle();
    return new Promise<EngineResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress: options.onProgress });
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        this.post({ id: this.nextId++, method: 'cancel', params: { target: id } });
        reject(new EngineError('cancelled', 'Cancelled.'));
        this.scheduleIdle();
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      child.send({ id, method, params } as EngineRequest, (err) => {
        if (err && this.pending.delete(id)) reject(new EngineError('engine-unavailable', `Could not reach the engine process: ${err.message}`));
      });
    });
  }

  /** Stops the process now; pending requests fail. The next request starts a new one. */
  dispose(): void {
    this.clearIdle();
    const child = this.child;
    this.child = undefined;
    if (child) {
      child.removeAllListeners('exit');
      child.kill();
    }
    this.failAll(new EngineError('engine-stopped', 'The engine was stopped.'));
  }

  private post(req: EngineRequest): void {
    this.child?.send(req);
  }

  private ensureStarted(): ChildProcess {
    if (this.child) return this.child;
    const child = fork(this.opts.scriptPath, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // In desktop VS Code process.execPath is Electron: run it as plain Node (as language clients do).
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', ...this.opts.env },
    });
    this.starts++;
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => this.opts.log('info', `[engine] ${d.toString().trimEnd()}`));
    child.stderr?.on('data', (d: Buffer) => this.opts.log('warn', `[engine] ${d.toString().trimEnd()}`));
    child.on('message', (m: EngineMessage) => this.onMessage(m));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.clearIdle();
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      this.opts.log(code === 0 && !signal ? 'info' : 'error', `engine process ${child.pid} ended (${how})`);
      this.failAll(new EngineError('engine-crashed', `The CLIP engine stopped unexpectedly (${how}). Try again; if it keeps happening, try another model or precision.`));
    });
    child.on('error', (err) => this.opts.log('error', `engine process error: ${err.message}`));
    this.opts.log('info', `engine process ${child.pid} started`);
    return child;
  }

  private onMessage(m: EngineMessage): void {
    if ('log' in m) {
      this.opts.log(m.log.level, `[engine] ${m.log.message}`);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    if ('progress' in m) {
      p.onProgress?.(m.progress);
      return;
    }
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new EngineError(m.error.code, m.error.message));
    this.scheduleIdle();
  }

  private failAll(e: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(e);
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private scheduleIdle(): void {
    this.clearIdle();
    if (this.opts.idleMs <= 0 || this.pending.size > 0 || !this.child) return;
    this.idleTimer = setTimeout(() => {
      if (this.pending.size === 0 && this.child) {
        this.opts.log('info', `releasing the engine after ${Math.round(this.opts.idleMs / 1000)} s idle`);
        this.dispose();
      }
    }, this.opts.idleMs);
    this.idleTimer.unref?.();
  }
}
