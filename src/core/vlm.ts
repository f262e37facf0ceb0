/**
 * The VLM client's error type and the endpoint URL helper. No SDK import here: the client itself is
 * vlmClient.ts (its policies: vlmRetry.ts for retries and timers, vlmReply.ts for reading a reply
 * and its limits).
 */
import { DEFAULT_BASE_URL } from './defaults';
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

/** The host of an endpoint, for display and for the "first request to a new host" prompt. */
export function endpointHost(baseURL: string): string {
  try {
    return new URL(baseURL).host;
  } catch {
    throw new VlmError('bad-request', `The VLM base URL "${baseURL}" is not a valid URL (expected e.g. ${DEFAULT_BASE_URL}).`);
  }
}
