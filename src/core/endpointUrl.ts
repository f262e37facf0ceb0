/**
 * URL helpers for a VLM endpoint. Kept apart from the client (vlm.ts) and free of SDK imports:
 * the extension host uses them for labels and host consent, and must not bundle the OpenAI SDK.
 */
import { DEFAULT_BASE_URL } from './defaults';
import { VlmError } from './vlmError';

/** The host of an endpoint, for display and for the "first request to a new host" prompt. */
export function endpointHost(baseURL: string): string {
  try {
    return new URL(baseURL).host;
  } catch {
    throw new VlmError('bad-request', `The VLM base URL "${baseURL}" is not a valid URL (expected e.g. ${DEFAULT_BASE_URL}).`);
  }
}
