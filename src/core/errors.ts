/**
 * Errors the user can act on. `code` lets callers (CLI, extension, batch runner) pick a next
 * step; `message` is written for the user and never contains secrets.
 */
export const ERROR_CODES = [
  // images, questions, parameters and models
  'bad-image',
  'image-too-large',
  'unsupported-format',
  'bad-query',
  'bad-parameter',
  'model-missing',
  'model-structure',
  'download-failed',
  'offline-missing',
  'output-exists',
  'output-locked',
  'file-in-use',
  'settings-changed',
  // answers from a vision-language model (vlm.ts's VlmErrorKind is a subset)
  'missing-key',
  'unreachable',
  'timeout',
  'auth',
  'rate-limited',
  'no-image-support',
  'model-not-found',
  'bad-request',
  'server',
  'malformed',
  'empty',
  // the engine process and the message channels
  'expired',
  'engine-crashed',
  'engine-unavailable',
  'engine-stopped',
  'bad-message',
  'no-handler',
  'cancelled',
  'internal',
] as const;

/**
 * The one closed set of error codes: core, the engine process, the extension host and the
 * webviews all speak it (src/shared/protocol.ts carries it across every channel).
 */
export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export class AttentionPromptError extends Error {
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AttentionPromptError';
  }
}

export function isAttentionPromptError(e: unknown): e is AttentionPromptError {
  return e instanceof AttentionPromptError;
}

/** Settles with `work`, or rejects as soon as `signal` fires: the caller never waits on work that ignores it. */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(new AttentionPromptError('cancelled', 'Cancelled.'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AttentionPromptError('cancelled', 'Cancelled.'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Thrown when an AbortSignal fires between stages. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AttentionPromptError('cancelled', 'Cancelled.');
}
