/**
 * Errors the user can act on. `code` lets callers (CLI, extension, batch runner) pick a next
 * step; `message` is written for the user and never contains secrets.
 */
export type ErrorCode =
  | 'bad-image'
  | 'image-too-large'
  | 'unsupported-format'
  | 'bad-query'
  | 'bad-parameter'
  | 'model-missing'
  | 'model-structure'
  | 'download-failed'
  | 'offline-missing'
  | 'cancelled'
  | 'output-exists'
  | 'output-locked'
  | 'settings-changed'
  | 'internal';

export class AttentionPromptError extends Error {
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AttentionPromptError';
  }
}

export function isAttentionPromptError(e: unknown): e is AttentionPromptError {
  return e instanceof AttentionPromptError;
}

/** Thrown when an AbortSignal fires between stages. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AttentionPromptError('cancelled', 'Cancelled.');
}
