/**
 * Asking a vision-language model about an image through any OpenAI-compatible Chat Completions
 * endpoint (OpenAI, Azure OpenAI's /openai/v1/, Ollama, LM Studio, vLLM) with the `openai` SDK.
 *
 * The SDK builds and sends the request and turns HTTP error statuses into typed errors; this module
 * reads the reply itself, because the SDK (6.x) leaves three gaps a misbehaving server falls through:
 * its `timeout` stops at the response headers (openai/openai-node#1825: a stream that goes silent
 * afterwards hangs forever), its retry wait honours any `Retry-After` uncapped and cannot be
 * aborted, and its stream parser treats any 200 body (a non-streamed completion, an HTML page,
 * an empty stream) as an empty stream. So SDK retries are off and here:
 *  - `timeoutMs` bounds every silence: waiting for the reply and between two pieces of it;
 *    `answerTimeoutMs` bounds the whole answer, retries and their waits included;
 *  - 408/409/429/5xx and connection failures are retried with backoff or the server's
 *    Retry-After, capped at `maxRetryWaitMs` (a longer ask fails at once and says so); every wait
 *    ends when the caller's signal aborts;
 *  - a 200 is read by what it is: an event stream, a non-streamed completion (its text is used),
 *    or anything else (an error naming what came back); an empty answer is never a success;
 *  - a connection dropped mid-answer keeps the text that arrived, marked incomplete; an answer
 *    longer than the cap (a server ignoring max_tokens) is cut, marked incomplete;
 *  - every message is stripped of the key and anything that looks like a credential.
 * This module is the client; its policies are apart: vlmRetry.ts (retries, backoff, timers) and
 * vlmReply.ts (reading a reply, and its limits).
 */
import OpenAI from 'openai';
import type { AnswerProvider, AnswerRequest, AnswerResult } from './answerProvider';
import { VLM_LIMITS, VlmSettings } from './defaults';
import { rememberSecret } from './redact';
import { endpointHost } from './endpointUrl';
import { VlmError } from './vlmError';
import { AnswerText, BodyText, answerCharCap, readReply } from './vlmReply';
import { Attempt, retryAfterMs, secondsText, timerMs, withRetries } from './vlmRetry';

export { VlmError, type VlmErrorKind } from './vlmError';

export interface AskRequest {
  question: string;
  /** The image as a data URL (see vlmImage.ts); absent for a text-only request. */
  imageUrl?: string;
  /** Per-request overrides of the settings. */
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  onDelta?: (text: string) => void;
}

const IMAGE_REJECTION = /image|vision|multimodal|multi-modal|image_url|does not support/i;

/** Maps SDK and HTTP failures to errors a user can act on. */
export function describeVlmError(e: unknown, settings: Pick<VlmSettings, 'baseURL' | 'model' | 'timeoutMs'>): VlmError {
  if (e instanceof VlmError) return e;
  const host = safeHost(settings.baseURL);
  if (e instanceof OpenAI.APIUserAbortError || (e instanceof Error && e.name === 'AbortError')) return new VlmError('cancelled', 'Cancelled.');
  if (e instanceof OpenAI.APIConnectionTimeoutError) {
    return new VlmError('timeout', `${host} did not answer within ${secondsText(settings.timeoutMs)}. Retry, or raise the timeout setting.`, undefined, { cause: e });
  }
  if (e instanceof OpenAI.APIConnectionError) {
    return new VlmError('unreachable', `Cannot reach ${host}: is the endpoint running and the base URL right?`, undefined, { cause: e });
  }
  if (e instanceof OpenAI.APIError) {
    const detail = apiErrorMessage(e);
    const status = e.status;
    if (status === 401 || status === 403) return new VlmError('auth', `${host} refused the API key (${status}). Set a valid key.`, status, { cause: e });
    if (status === 429) return new VlmError('rate-limited', `${host} is rate-limiting requests (429). Wait and retry.`, status, { cause: e });
    if (status === 404) return new VlmError('model-not-found', `${host} has no model "${settings.model}" (404): ${detail}. Check the model setting.`, status, { cause: e });
    if ((status === 400 || status === 422) && IMAGE_REJECTION.test(detail)) {
      return new VlmError('no-image-support', `The model "${settings.model}" at ${host} does not accept images: ${detail}. Choose a vision model.`, status, { cause: e });
    }
    if (status !== undefined && status >= 500) return new VlmError('server', `${host} failed (${status}): ${detail}. Retry later.`, status, { cause: e });
    if (status === undefined) return new VlmError('server', `${host} reported an error: ${detail}`, undefined, { cause: e });
    return new VlmError('bad-request', `${host} rejected the request (${status}): ${detail}`, status, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (/JSON|Unexpected token|parse/i.test(msg)) return new VlmError('malformed', `${host} sent a reply that is not valid JSON: ${msg}`, undefined, { cause: e });
  return new VlmError('server', `Request to ${host} failed: ${msg}`, undefined, { cause: e });
}

function safeHost(baseURL: string): string {
  try {
    return new URL(baseURL).host;
  } catch {
    return baseURL;
  }
}

function apiErrorMessage(e: InstanceType<typeof OpenAI.APIError>): string {
  const body = e.error as { message?: unknown } | undefined;
  return (body && typeof body.message === 'string' ? body.message : e.message).slice(0, 300);
}

/** Why this client stopped reading a reply (as opposed to the caller cancelling). */
type StopReason = 'silence' | 'deadline';

export class VlmClient implements AnswerProvider {
  readonly kind = 'openai' as const;
  private readonly client: OpenAI;

  constructor(readonly settings: VlmSettings) {
    if (!settings.apiKey) {
      throw new VlmError('missing-key', 'No API key is set for the VLM endpoint. Set one (local servers such as Ollama accept any text).');
    }
    endpointHost(settings.baseURL);
    rememberSecret(settings.apiKey);
    this.client = new OpenAI({
      apiKey: settings.apiKey,
      baseURL: settings.baseURL,
      // Only a backstop: the silence and whole-answer timers below end every attempt earlier.
      timeout: Math.ceil(timerMs(this.answerTimeoutMs + 1000)),
      // Retries happen here, with capped and abortable waits.
      maxRetries: 0,
    });
  }

  get host(): string {
    return endpointHost(this.settings.baseURL);
  }

  get label(): { model: string; where: string } {
    return { model: this.settings.model, where: this.host };
  }

  private get answerTimeoutMs(): number {
    return this.settings.answerTimeoutMs ?? this.settings.timeoutMs * VLM_LIMITS.answerTimeoutFactor;
  }

  /** AnswerProvider: encoded image bytes in (or none, for text only); the data URL is built here. */
  answer(request: AnswerRequest): Promise<AnswerResult> {
    const { image, ...rest } = request;
    const imageUrl = image ? `data:${image.mime};base64,${Buffer.from(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength).toString('base64')}` : undefined;
    return this.ask({ ...rest, imageUrl });
  }

  /** Streams the answer to a question about one image given as a data URL. */
  async ask(req: AskRequest): Promise<AnswerResult> {
    const s = this.settings;
    const start = performance.now();
    const deadline = start + this.answerTimeoutMs;
    const limits = { maxRetries: s.maxRetries, maxRetryWaitMs: s.maxRetryWaitMs ?? VLM_LIMITS.maxRetryWaitMs, deadline, answerTimeoutMs: this.answerTimeoutMs };
    return withRetries(() => this.attempt(req, start, deadline), limits, req.signal);
  }

  private messages(req: AskRequest): OpenAI.Chat.ChatCompletionMessageParam[] {
    const s = this.settings;
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
    if (s.systemPrompt.trim()) messages.push({ role: 'system', content: s.systemPrompt });
    messages.push({
      role: 'user',
      content: req.imageUrl ? [
        { type: 'image_url', image_url: { url: req.imageUrl, detail: s.imageDetail } },
        { type: 'text', text: req.question },
      ] : req.question,
    });
    return messages;
  }

  /** One request and the reading of its reply, bounded by the silence and whole-answer timers. */
  private async attempt(req: AskRequest, start: number, deadline: number): Promise<Attempt> {
    const s = { ...this.settings, maxTokens: req.maxTokens ?? this.settings.maxTokens, temperature: req.temperature ?? this.settings.temperature };
    const host = this.host;
    const controller = new AbortController();
    let stopped: StopReason | undefined;
    const stop = (why: StopReason) => {
      stopped ??= why;
      controller.abort();
    };
    const onCallerAbort = () => controller.abort();
    req.signal?.addEventListener('abort', onCallerAbort, { once: true });
    let silence = setTimeout(() => stop('silence'), timerMs(s.timeoutMs));
    const touch = () => {
      clearTimeout(silence);
      silence = setTimeout(() => stop('silence'), timerMs(s.timeoutMs));
    };
    const whole = setTimeout(() => stop('deadline'), timerMs(deadline - performance.now()));
    const answer = new AnswerText(answerCharCap(s), s.apiKey, req.onDelta);
    const fail = (error: VlmError, retryable = false, retryAfter?: number): Attempt => {
      if (answer.text) error.partialText = answer.shown;
      return { error, retryable, retryAfterMs: retryAfter };
    };
    const interrupted = (): Attempt | undefined => {
      if (req.signal?.aborted) return fail(new VlmError('cancelled', 'Cancelled.'));
      if (stopped === 'deadline') {
        return fail(new VlmError('timeout', `${host} did not finish the answer within ${secondsText(this.answerTimeoutMs)}${answer.text ? ` (${answer.text.length} characters had arrived)` : ''}. Retry, or raise the timeout setting.`));
      }
      if (stopped === 'silence') {
        const what = answer.text ? `sent nothing for ${secondsText(s.timeoutMs)} after ${answer.text.length} characters of the answer` : `did not answer within ${secondsText(s.timeoutMs)}`;
        // Nothing was shown yet, so another attempt cannot duplicate text.
        return fail(new VlmError('timeout', `${host} ${what}. Retry, or raise the timeout setting.`), !answer.text);
      }
      return undefined;
    };
    const done = (finishReason: string | undefined, model: string, incompleteReason?: string): Attempt => {
      const text = answer.finish();
      if (answer.capped) incompleteReason = `cut at ${answer.text.length} characters: ${host} sent more than max_tokens (${s.maxTokens}) allows`;
      return {
        result: {
          text,
          model,
          finishReason,
          elapsedMs: performance.now() - start,
          ...(incompleteReason ? { incomplete: true, incompleteReason } : {}),
        },
      };
    };

    let body: BodyText | undefined;
    try {
      let response: Response;
      try {
        response = await this.client.chat.completions
          .create({ model: s.model, messages: this.messages(req), stream: true, max_tokens: s.maxTokens, temperature: s.temperature }, { signal: controller.signal })
          .asResponse();
      } catch (e) {
        const early = interrupted();
        if (early) return early;
        const error = describeVlmError(e, s);
        const retryable =
          error.kind === 'unreachable' || error.kind === 'timeout' || (e instanceof OpenAI.APIError && e.status !== undefined && [408, 409, 429].includes(e.status)) || (error.status !== undefined && error.status >= 500);
        return fail(error, retryable, e instanceof OpenAI.APIError ? retryAfterMs(e.headers) : undefined);
      }
      touch();
      if (!response.body) return fail(new VlmError('empty', `${host} sent an empty reply (HTTP ${response.status}) instead of an answer.`));
      body = new BodyText(response.body, touch);
      return await readReply(response, body, { host, model: s.model, answer, fail, done });
    } catch (e) {
      const early = interrupted();
      if (early) return early;
      if (e instanceof VlmError) return fail(e);
      // The connection broke while the reply was being read.
      if (answer.text) return done(undefined, s.model, `the connection to ${host} dropped after ${answer.text.length} characters`);
      const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : e instanceof Error ? `: ${e.message}` : '';
      return fail(new VlmError('unreachable', `The connection to ${host} dropped before the answer started${cause}.`, undefined, { cause: e }), true);
    } finally {
      clearTimeout(silence);
      clearTimeout(whole);
      req.signal?.removeEventListener('abort', onCallerAbort);
      body?.cancel();
      // Whatever happened, the request is over: this closes the connection if it is still open.
      controller.abort();
    }
  }
}
