/**
 * The VLM client's retry and timer policy: 408/409/429/5xx and connection failures are retried
 * with backoff or the server's Retry-After, capped at `maxRetryWaitMs` (a longer ask fails at once
 * and says so), within the whole-answer limit; every wait ends when the caller's signal aborts.
 */
import type { AnswerResult } from './answerProvider';
import { VLM_LIMITS } from './defaults';
import { VlmError } from './vlmError';

/** A duration for messages: "2.5 s", "90 s", "7200 s (2.0 h)". */
export function secondsText(ms: number): string {
  const s = ms / 1000;
  const text = `${s < 10 ? Number(s.toFixed(1)) : Math.round(s)} s`;
  return s >= 3600 ? `${text} (${(s / 3600).toFixed(1)} h)` : text;
}

/** Milliseconds from retry-after-ms or Retry-After (seconds or an HTTP date); undefined if absent or unreadable. */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number.parseFloat(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Node's timers fire at once beyond 2^31 − 1 ms (24.8 days): longer limits are clamped to that. */
const MAX_TIMER_MS = 2 ** 31 - 1;
export const timerMs = (ms: number) => Math.min(Math.max(0, ms), MAX_TIMER_MS);

/** Resolves after `ms`, or rejects with a cancelled VlmError as soon as the signal aborts. */
function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new VlmError('cancelled', 'Cancelled.'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new VlmError('cancelled', 'Cancelled.'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, timerMs(ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One attempt's outcome: an answer, or an error and whether another attempt may help. */
export type Attempt = { result: AnswerResult } | { error: VlmError; retryable: boolean; retryAfterMs?: number };

export interface RetryLimits {
  maxRetries: number;
  /** The longest Retry-After honoured; a server asking for more fails the ask at once. */
  maxRetryWaitMs: number;
  /** performance.now() by which the whole answer, retries and waits included, must be done. */
  deadline: number;
  /** The whole-answer limit, for messages. */
  answerTimeoutMs: number;
}

/** Runs `attempt` until it gives an answer, a failure that is not retryable, or the limits end the retries. */
export async function withRetries(attempt: () => Promise<Attempt>, limits: RetryLimits, signal: AbortSignal | undefined): Promise<AnswerResult> {
  const { deadline } = limits;
  const maxWait = limits.maxRetryWaitMs;
  for (let tries = 0; ; tries++) {
    if (signal?.aborted) throw new VlmError('cancelled', 'Cancelled.');
    const outcome = await attempt();
    if ('result' in outcome) return outcome.result;
    const { error } = outcome;
    if (!outcome.retryable) throw error;
    if (tries >= limits.maxRetries) {
      if (tries === 0) throw error;
      throw new VlmError(error.kind, `${error.message} (${tries + 1} attempts)`, error.status, { cause: error });
    }
    const asked = outcome.retryAfterMs;
    if (asked !== undefined && asked > maxWait) {
      throw new VlmError(
        error.kind,
        `${error.message} It asked to retry after ${secondsText(asked)} (Retry-After); this client waits at most ${secondsText(maxWait)}, so it stopped rather than stall.`,
        error.status,
        { cause: error },
      );
    }
    const wait = asked ?? Math.min(VLM_LIMITS.initialBackoffMs * 2 ** tries, VLM_LIMITS.maxBackoffMs) * (1 - Math.random() * 0.25);
    if (performance.now() + wait >= deadline) {
      throw new VlmError(error.kind, `${error.message} No time is left for a retry within the answer limit of ${secondsText(limits.answerTimeoutMs)}.`, error.status, { cause: error });
    }
    await abortableSleep(wait, signal);
  }
}
