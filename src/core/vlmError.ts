/**
 * The error every VLM failure becomes, by kind. Its own module (no SDK import), so code that only
 * names or checks these errors, such as the extension host, does not bundle the OpenAI client.
 */
import { redactSecrets } from './redact';

export type VlmErrorKind =
  | 'missing-key'
  | 'unreachable'
  | 'timeout'
  | 'auth'
  | 'rate-limited'
  | 'no-image-support'
  | 'model-not-found'
  | 'bad-request'
  | 'server'
  | 'malformed'
  | 'empty'
  | 'cancelled';

export class VlmError extends Error {
  /** Text that arrived before the failure (a stream that stalled), for display; never a complete answer. */
  partialText?: string;

  constructor(readonly kind: VlmErrorKind, message: string, readonly status?: number, options?: { cause?: unknown }) {
    super(redactSecrets(message), options);
    this.name = 'VlmError';
  }
}
