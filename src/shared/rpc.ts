/**
 * One message-handler pattern for every channel (host ↔ engine process, host ↔ each webview):
 * typed requests with replies, progress and cancellation, and one-way notifications, in both
 * directions. A channel is described by two vocabularies (what each side handles); an Endpoint
 * sends the other side's kinds and handles its own. The transport is a `send` function and a
 * `receive` call, so the same class runs over child_process IPC, `webview.postMessage` and, in
 * tests, a pair of in-memory functions. Bytes stay typed arrays: both transports structured-clone.
 */
import { ERROR_CODES, type ErrorCode } from '../core/errors';
import { InvalidMessage, type Check } from './validate';

export type { ErrorCode };
export { ERROR_CODES };

/** What one side of a channel handles: request kinds (params → reply, with progress) and notifications. */
export interface Vocabulary {
  requests: Record<string, { params: unknown; reply: unknown; progress?: unknown }>;
  notifications: Record<string, unknown>;
}

export type RequestKind<V extends Vocabulary> = keyof V['requests'] & string;
export type NotificationKind<V extends Vocabulary> = keyof V['notifications'] & string;
export type ParamsOf<V extends Vocabulary, K extends RequestKind<V>> = V['requests'][K]['params'];
export type ReplyOf<V extends Vocabulary, K extends RequestKind<V>> = V['requests'][K]['reply'];
export type ProgressOf<V extends Vocabulary, K extends RequestKind<V>> = V['requests'][K] extends { progress: infer P } ? P : never;

/** Checks for everything a side receives from a less trusted peer: one per kind, all required. */
export interface Checks<V extends Vocabulary> {
  requests: { [K in RequestKind<V>]: Check<ParamsOf<V, K>> };
  notifications: { [K in NotificationKind<V>]: Check<V['notifications'][K]> };
}

/** An error that crossed (or was raised by) a channel: a code from the one closed set, and a message for the user. */
export class ChannelError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'ChannelError';
  }
}

export function errorCodeOf(e: unknown): ErrorCode {
  const code = (e as { code?: unknown; kind?: unknown } | null)?.code ?? (e as { kind?: unknown } | null)?.kind;
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : 'internal';
}

export const cancelled = () => new ChannelError('cancelled', 'Cancelled.');

/** The messages on the wire. Ids are per direction: a reply, progress or cancel names the requester's id. */
export type WireMessage =
  | { rpc: 'request'; id: number; kind: string; params: unknown }
  | { rpc: 'progress'; id: number; value: unknown }
  | { rpc: 'reply'; id: number; ok: true; value: unknown }
  | { rpc: 'reply'; id: number; ok: false; error: { code: ErrorCode; message: string } }
  | { rpc: 'cancel'; id: number }
  | { rpc: 'notify'; kind: string; payload: unknown };

export interface RequestContext<P> {
  /** Fires when the requester cancels (or the channel closes). */
  signal: AbortSignal;
  progress(value: P): void;
}

type RequestHandler<V extends Vocabulary, K extends RequestKind<V>> = (params: ParamsOf<V, K>, ctx: RequestContext<ProgressOf<V, K>>) => ReplyOf<V, K> | Promise<ReplyOf<V, K>>;
type NotificationHandler<V extends Vocabulary, K extends NotificationKind<V>> = (payload: V['notifications'][K]) => void;

export interface EndpointOptions<Mine extends Vocabulary> {
  send(message: WireMessage): void;
  /** Validate what arrives (webview → host): a message that fails is dropped and reported. */
  checks?: Checks<Mine>;
  /** A message that is malformed, fails its check, or has no handler. */
  onInvalid?(reason: string): void;
  /** A request this side cancelled that the other side then finished anyway (it ignored the cancel). */
  onLateReply?(kind: string, id: number, outcome: 'cancelled' | 'completed' | 'failed'): void;
}

interface Pending {
  kind: string;
  resolve(value: unknown): void;
  reject(e: Error): void;
  onProgress?(value: unknown): void;
}

/**
 * `Mine`: what this side handles. `Theirs`: what the other side handles (what this side sends).
 */
export class Endpoint<Mine extends Vocabulary, Theirs extends Vocabulary> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Requests this side cancelled, until the other side's last word on them. */
  private readonly cancelledIds = new Map<number, string>();
  private readonly running = new Map<number, AbortController>();
  private readonly requestHandlers = new Map<string, RequestHandler<Mine, RequestKind<Mine>>>();
  private readonly notificationHandlers = new Map<string, NotificationHandler<Mine, NotificationKind<Mine>>>();

  constructor(private readonly opts: EndpointOptions<Mine>) {}

  /** Sends a request; resolves with its reply. An abort rejects at once with `cancelled` and tells the other side. */
  request<K extends RequestKind<Theirs>>(
    kind: K,
    params: ParamsOf<Theirs, K>,
    options: { signal?: AbortSignal; onProgress?: (value: ProgressOf<Theirs, K>) => void } = {},
  ): Promise<ReplyOf<Theirs, K>> {
    if (options.signal?.aborted) return Promise.reject(cancelled());
    const id = this.nextId++;
    return new Promise<ReplyOf<Theirs, K>>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        this.cancelledIds.set(id, kind);
        this.trySend({ rpc: 'cancel', id });
        reject(cancelled());
      };
      const cleanup = () => options.signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        kind,
        resolve: (v) => (cleanup(), resolve(v as ReplyOf<Theirs, K>)),
        reject: (e) => (cleanup(), reject(e)),
        onProgress: options.onProgress as ((v: unknown) => void) | undefined,
      });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const error = this.trySend({ rpc: 'request', id, kind, params });
      if (error) this.settle(id, (p) => p.reject(new ChannelError('engine-unavailable', `Could not send ${kind}: ${error.message}`)));
    });
  }

  notify<K extends NotificationKind<Theirs>>(kind: K, payload: Theirs['notifications'][K]): void {
    this.trySend({ rpc: 'notify', kind, payload });
  }

  onRequest<K extends RequestKind<Mine>>(kind: K, handler: RequestHandler<Mine, K>): this {
    this.requestHandlers.set(kind, handler as unknown as RequestHandler<Mine, RequestKind<Mine>>);
    return this;
  }

  onNotification<K extends NotificationKind<Mine>>(kind: K, handler: NotificationHandler<Mine, K>): this {
    this.notificationHandlers.set(kind, handler as unknown as NotificationHandler<Mine, NotificationKind<Mine>>);
    return this;
  }

  /** Requests sent and not yet answered. */
  get outstanding(): number {
    return this.pending.size;
  }

  /** Feed every message that arrives from the other side here. */
  receive(raw: unknown): void {
    if (!isWire(raw)) {
      this.opts.onInvalid?.(`not a protocol message: ${preview(raw)}`);
      return;
    }
    const m = raw;
    switch (m.rpc) {
      case 'request':
        void this.serve(m.id, m.kind, m.params);
        return;
      case 'cancel':
        this.running.get(m.id)?.abort();
        return;
      case 'notify':
        return this.dispatchNotification(m.kind, m.payload);
      case 'progress':
        this.pending.get(m.id)?.onProgress?.(m.value);
        return;
      case 'reply': {
        const late = this.cancelledIds.get(m.id);
        if (late !== undefined) {
          this.cancelledIds.delete(m.id);
          this.opts.onLateReply?.(late, m.id, m.ok ? 'completed' : m.error.code === 'cancelled' ? 'cancelled' : 'failed');
          return;
        }
        this.settle(m.id, (p) => (m.ok ? p.resolve(m.value) : p.reject(new ChannelError(validCode(m.error.code), String(m.error.message)))));
        return;
      }
    }
  }

  /** Fails every request in flight (the other side is gone) and aborts every handler running here. */
  close(error: ChannelError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    this.cancelledIds.clear();
    for (const p of all) p.reject(error);
    for (const c of this.running.values()) c.abort();
    this.running.clear();
  }

  private settle(id: number, f: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    f(p);
  }

  private trySend(m: WireMessage): Error | undefined {
    try {
      this.opts.send(m);
      return undefined;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  private dispatchNotification(kind: string, payload: unknown): void {
    const handler = this.notificationHandlers.get(kind);
    const check = this.opts.checks && (this.opts.checks.notifications as Record<string, Check<unknown> | undefined>)[kind];
    if (!handler || (this.opts.checks && !check)) {
      this.opts.onInvalid?.(`no handler for the notification "${preview(kind)}"`);
      return;
    }
    let value = payload;
    try {
      if (check) value = check(payload, kind);
    } catch (e) {
      this.opts.onInvalid?.(e instanceof InvalidMessage ? e.message : String(e));
      return;
    }
    handler(value as never);
  }

  private async serve(id: number, kind: string, params: unknown): Promise<void> {
    const handler = this.requestHandlers.get(kind);
    const check = this.opts.checks && (this.opts.checks.requests as Record<string, Check<unknown> | undefined>)[kind];
    if (!handler || (this.opts.checks && !check)) {
      this.opts.onInvalid?.(`no handler for the request "${preview(kind)}"`);
      this.trySend({ rpc: 'reply', id, ok: false, error: { code: 'no-handler', message: `Nothing here answers "${String(kind).slice(0, 40)}".` } });
      return;
    }
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      const value = check ? check(params, kind) : params;
      const reply = await handler(value as never, {
        signal: controller.signal,
        progress: (p) => {
          if (!controller.signal.aborted) this.trySend({ rpc: 'progress', id, value: p });
        },
      });
      // A cancelled request never reports success: its requester has moved on, and the reply
      // tells it (and its tests) that the work stopped.
      if (controller.signal.aborted) throw cancelled();
      this.trySend({ rpc: 'reply', id, ok: true, value: reply });
    } catch (e) {
      if (e instanceof InvalidMessage) this.opts.onInvalid?.(e.message);
      const code: ErrorCode = e instanceof InvalidMessage ? 'bad-message' : controller.signal.aborted ? 'cancelled' : errorCodeOf(e);
      const message = code === 'cancelled' ? 'Cancelled.' : e instanceof Error ? e.message : String(e);
      this.trySend({ rpc: 'reply', id, ok: false, error: { code, message } });
    } finally {
      this.running.delete(id);
    }
  }
}

function validCode(code: unknown): ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : 'internal';
}

function isWire(m: unknown): m is WireMessage {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  switch (r.rpc) {
    case 'request':
      return Number.isInteger(r.id) && typeof r.kind === 'string';
    case 'progress':
    case 'cancel':
      return Number.isInteger(r.id);
    case 'reply':
      return Number.isInteger(r.id) && (r.ok === true || (r.ok === false && typeof r.error === 'object' && r.error !== null));
    case 'notify':
      return typeof r.kind === 'string';
    default:
      return false;
  }
}

function preview(v: unknown): string {
  try {
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 80)}…` : s;
  } catch {
    return String(v);
  }
}
