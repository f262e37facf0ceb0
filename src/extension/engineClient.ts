/**
 * The host's side of the engine process: starts it on first use (child_process.fork, so a native
 * crash in onnxruntime or sharp takes down only the child), speaks the typed protocol with it
 * (requests both ways, progress, cancellation), restarts after a crash, and releases the process
 * after an idle period. No vscode import: unit-tested without VS Code.
 */
import { ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import { ENGINE_STOP_GRACE_MS } from '../core/defaults';
import type { EngineVocabulary, HostVocabulary } from '../shared/protocol';
import { ChannelError, Endpoint, type ParamsOf, type ProgressOf, type ReplyOf, type RequestContext, type RequestKind } from '../shared/rpc';

/** Engine errors are channel errors: one closed set of codes. */
export { ChannelError as EngineError };

type EngineKind = RequestKind<EngineVocabulary>;
type HostKind = RequestKind<HostVocabulary>;

/**
 * The only variables the engine process gets: enough to run Node, find the home, cache and temp
 * folders and the hub mirror. API keys and tokens in the host's environment stay there; an
 * endpoint's key travels inside the request that needs it.
 */
const ENGINE_ENVIRONMENT = ['PATH', 'HOME', 'USERPROFILE', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LC_ALL', 'SYSTEMROOT', 'WINDIR', 'XDG_CACHE_HOME', 'LOCALAPPDATA', 'APPDATA', 'HF_ENDPOINT', 'LD_LIBRARY_PATH'];

export function engineEnvironment(from: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ENGINE_ENVIRONMENT) if (from[name] !== undefined) env[name] = from[name];
  // In desktop VS Code process.execPath is Electron: run it as plain Node (as language clients do).
  env.ELECTRON_RUN_AS_NODE = '1';
  return env;
}

export interface EngineClientOptions {
  /** The bundled engine process script (dist/engine.js). */
  scriptPath: string;
  /** Release the process after this long without requests (0: never). */
  idleMs: number;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Extra variables for the engine process (tests). */
  env?: NodeJS.ProcessEnv;
  /** How long a stopped process may take to exit before it is killed (default ENGINE_STOP_GRACE_MS). */
  stopGraceMs?: number;
}

interface Running {
  child: ChildProcess;
  channel: Endpoint<HostVocabulary, EngineVocabulary>;
}

type HostHandler<K extends HostKind> = (params: ParamsOf<HostVocabulary, K>, ctx: RequestContext<ProgressOf<HostVocabulary, K>>) => Promise<ReplyOf<HostVocabulary, K>>;

export class EngineClient {
  private current: Running | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly hostHandlers = new Map<HostKind, HostHandler<HostKind>>();
  /** How many processes were started (for tests and the log). */
  starts = 0;
  /** Called when the engine process answers a request after the host cancelled it. */
  onLateReply: ((kind: string, outcome: 'cancelled' | 'completed' | 'failed') => void) | undefined;

  constructor(private readonly opts: EngineClientOptions) {}

  get running(): boolean {
    return this.current !== undefined;
  }

  get pid(): number | undefined {
    return this.current?.child.pid;
  }

  /** Sends a request to the engine process and resolves with the reply of that kind. */
  request<K extends EngineKind>(
    kind: K,
    params: ParamsOf<EngineVocabulary, K>,
    options: { signal?: AbortSignal; onProgress?: (p: ProgressOf<EngineVocabulary, K>) => void } = {},
  ): Promise<ReplyOf<EngineVocabulary, K>> {
    if (options.signal?.aborted) return Promise.reject(new ChannelError('cancelled', 'Cancelled.'));
    const { channel } = this.ensureStarted();
    this.clearIdle();
    const done = () => this.scheduleIdle();
    const reply = channel.request(kind, params, options);
    reply.then(done, done);
    return reply;
  }

  /** Answers a request the engine process sends to the host (e.g. an answer from a VS Code language model). */
  handle<K extends HostKind>(kind: K, handler: HostHandler<K>): void {
    this.hostHandlers.set(kind, handler as unknown as HostHandler<HostKind>);
    this.current?.channel.onRequest(kind, handler);
  }

  /**
   * Stops the process; pending requests fail now. The next request starts a new one. The process
   * is asked to exit by closing its channel (it exits on 'disconnect'), on every platform, since a
   * kill is immediate on Windows; one that has not exited after the grace period is killed.
   */
  dispose(): void {
    this.clearIdle();
    const running = this.current;
    this.current = undefined;
    if (running) {
      running.child.removeAllListeners('exit');
      running.channel.close(new ChannelError('engine-stopped', 'The engine was stopped.'));
      this.stopProcess(running.child);
    }
  }

  private stopProcess(child: ChildProcess): void {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (!child.connected) {
      child.kill();
      return;
    }
    const graceMs = this.opts.stopGraceMs ?? ENGINE_STOP_GRACE_MS;
    const killer = setTimeout(() => {
      this.opts.log('warn', `engine process ${child.pid} did not exit within ${graceMs} ms of being asked; killing it`);
      // SIGKILL: what a kill is on Windows anyway (TerminateProcess), and nothing can ignore it.
      child.kill('SIGKILL');
    }, graceMs);
    // The host may exit meanwhile: then the closed channel alone ends the process.
    killer.unref();
    child.once('exit', () => clearTimeout(killer));
    child.disconnect();
  }

  private ensureStarted(): Running {
    if (this.current) return this.current;
    const child = fork(this.opts.scriptPath, [], {
      // Not the host's working folder (in VS Code, wherever it was started): a relative model id
      // such as Xenova/clip-vit-large-patch14-336 would resolve against a folder found there. The
      // script's own folder holds only what the extension ships and, unlike the temp folder, is
      // not writable by other users.
      cwd: path.dirname(this.opts.scriptPath),
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...engineEnvironment(process.env), ...this.opts.env },
    });
    const channel = new Endpoint<HostVocabulary, EngineVocabulary>({
      send: (m) => {
        if (!child.connected) throw new Error('the engine process is not connected');
        child.send(m, (err) => err && this.opts.log('error', `engine message lost: ${err.message}`));
      },
      onInvalid: (why) => this.opts.log('warn', `engine sent ${why}`),
      onLateReply: (kind, id, outcome) => {
        this.opts.log(outcome === 'completed' ? 'warn' : 'info', `engine ${outcome === 'completed' ? 'finished a cancelled request anyway' : 'stopped a cancelled request'}: ${kind} #${id}`);
        this.onLateReply?.(kind, outcome);
      },
    });
    channel.onNotification('log', (l) => this.opts.log(l.level, `[engine] ${l.message}`));
    for (const [kind, handler] of this.hostHandlers) channel.onRequest(kind, handler);
    const running: Running = { child, channel };
    this.starts++;
    this.current = running;
    child.stdout?.on('data', (d: Buffer) => this.opts.log('info', `[engine] ${d.toString().trimEnd()}`));
    child.stderr?.on('data', (d: Buffer) => this.opts.log('warn', `[engine] ${d.toString().trimEnd()}`));
    child.on('message', (m: unknown) => channel.receive(m));
    child.on('exit', (code, signal) => {
      if (this.current !== running) return;
      this.current = undefined;
      this.clearIdle();
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      this.opts.log(code === 0 && !signal ? 'info' : 'error', `engine process ${child.pid} ended (${how})`);
      channel.close(new ChannelError('engine-crashed', `The CLIP engine stopped unexpectedly (${how}). Try again; if it keeps happening, try another model or precision.`));
    });
    child.on('error', (err) => this.opts.log('error', `engine process error: ${err.message}`));
    this.opts.log('info', `engine process ${child.pid} started`);
    return running;
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private scheduleIdle(): void {
    this.clearIdle();
    const running = this.current;
    if (this.opts.idleMs <= 0 || !running || running.channel.outstanding > 0) return;
    this.idleTimer = setTimeout(() => {
      if (this.current === running && running.channel.outstanding === 0) {
        this.opts.log('info', `releasing the engine after ${Math.round(this.opts.idleMs / 1000)} s idle`);
        this.dispose();
      }
    }, this.opts.idleMs);
    this.idleTimer.unref?.();
  }
}
