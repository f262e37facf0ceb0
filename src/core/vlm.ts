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
 */
import OpenAI from 'openai';
import type { AnswerProvider, AnswerRequest, AnswerResult } from './answerProvider';
import { VLM_LIMITS, VlmSettings } from './defaults';
import { endpointHost } from './endpointUrl';
import { StreamRedactor, redactSecrets, rememberSecret } from './redact';
import { VlmError } from './vlmError';

export { VlmError, type VlmErrorKind } from './vlmError';

/** The stored answer's length limit: far above what max_tokens allows, so only a server ignoring it reaches it. */
export function answerCharCap(s: Pick<VlmSettings, 'maxTokens' | 'maxAnswerChars'>): number {
  return s.maxAnswerChars ?? Math.max(VLM_LIMITS.minAnswerChars, s.maxTokens * VLM_LIMITS.maxCharsPerToken);
}

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
    return new VlmError('timeout', `${host} did not answer within ${seconds(settings.timeoutMs)}. Retry, or raise the timeout setting.`, undefined, { cause: e });
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

function seconds(ms: number): string {
  const s = ms / 1000;
  const text = `${s < 10 ? Number(s.toFixed(1)) : Math.round(s)} s`;
  return s >= 3600 ? `${text} (${(s / 3600).toFixed(1)} h)` : text;
}

/** A short, single-line, credential-free excerpt of what a server sent, for error messages. */
function excerpt(text: string, max = 80): string {
  const line = redactSecrets(text).replace(/\s+/g, ' ').trim();
  return JSON.stringify(line.length > max ? `${line.slice(0, max)}…` : line);
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
const timerMs = (ms: number) => Math.min(Math.max(0, ms), MAX_TIMER_MS);

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
type Attempt = { result: AnswerResult } | { error: VlmError; retryable: boolean; retryAfterMs?: number };

/** Why this client stopped reading a reply (as opposed to the caller cancelling). */
type StopReason = 'silence' | 'deadline';

/** Reads a response body as text, resetting the silence timer on every byte received. */
class BodyText {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  bytes = 0;

  constructor(body: ReadableStream<Uint8Array>, private readonly onBytes: () => void) {
    this.reader = body.getReader();
  }

  async next(): Promise<string | undefined> {
    const { value, done } = await this.reader.read();
    if (done) {
      const rest = this.decoder.decode();
      return rest || undefined;
    }
    this.bytes += value.byteLength;
    this.onBytes();
    return this.decoder.decode(value, { stream: true });
  }

  cancel(): void {
    this.reader.cancel().catch(() => undefined);
  }
}

/**
 * Collects answer text: applies the length cap, redacts the key from what is streamed out. Only the
 * key itself is removed from answers (credential-shaped patterns are for error messages: an answer
 * reading a sign may legitimately say "token: …"), so what was streamed is exactly what is stored.
 */
class AnswerText {
  text = '';
  /** What was passed on so far: the text with the key redacted, less a held-back tail. */
  shown = '';
  capped = false;
  private readonly redactor: StreamRedactor;

  constructor(readonly cap: number, apiKey: string, private readonly onDelta?: (text: string) => void) {
    this.redactor = new StreamRedactor(apiKey);
  }

  /** Adds a piece; false once the cap is reached (stop reading). */
  add(piece: string): boolean {
    if (this.capped) return false;
    const room = this.cap - this.text.length;
    if (piece.length >= room) {
      piece = piece.slice(0, room);
      this.capped = true;
    }
    this.text += piece;
    this.emit(this.redactor.push(piece));
    return !this.capped;
  }

  finish(): string {
    this.emit(this.redactor.flush());
    return this.shown;
  }

  private emit(piece: string): void {
    if (!piece) return;
    this.shown += piece;
    this.onDelta?.(piece);
  }
}

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
    const maxWait = s.maxRetryWaitMs ?? VLM_LIMITS.maxRetryWaitMs;
    for (let attempt = 0; ; attempt++) {
      if (req.signal?.aborted) throw new VlmError('cancelled', 'Cancelled.');
      const outcome = await this.attempt(req, start, deadline);
      if ('result' in outcome) return outcome.result;
      const { error } = outcome;
      if (!outcome.retryable) throw error;
      if (attempt >= s.maxRetries) {
        if (attempt === 0) throw error;
        throw new VlmError(error.kind, `${error.message} (${attempt + 1} attempts)`, error.status, { cause: error });
      }
      const asked = outcome.retryAfterMs;
      if (asked !== undefined && asked > maxWait) {
        throw new VlmError(
          error.kind,
          `${error.message} It asked to retry after ${seconds(asked)} (Retry-After); this client waits at most ${seconds(maxWait)}, so it stopped rather than stall.`,
          error.status,
          { cause: error },
        );
      }
      const wait = asked ?? Math.min(VLM_LIMITS.initialBackoffMs * 2 ** attempt, VLM_LIMITS.maxBackoffMs) * (1 - Math.random() * 0.25);
      if (performance.now() + wait >= deadline) {
        throw new VlmError(error.kind, `${error.message} No time is left for a retry within the answer limit of ${seconds(this.answerTimeoutMs)}.`, error.status, { cause: error });
      }
      await abortableSleep(wait, req.signal);
    }
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
        return fail(new VlmError('timeout', `${host} did not finish the answer within ${seconds(this.answerTimeoutMs)}${answer.text ? ` (${answer.text.length} characters had arrived)` : ''}. Retry, or raise the timeout setting.`));
      }
      if (stopped === 'silence') {
        const what = answer.text ? `sent nothing for ${seconds(s.timeoutMs)} after ${answer.text.length} characters of the answer` : `did not answer within ${seconds(s.timeoutMs)}`;
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
      const contentType = (response.headers.get('content-type') ?? 'no content type').split(';')[0].trim();
      const reader = body;

      // Look at the first characters to tell an event stream from a JSON or HTML body.
      let head = '';
      for (;;) {
        const piece = await reader.next();
        if (piece === undefined) break;
        head += piece;
        if (head.trimStart()) break;
      }
      const first = head.trimStart();
      if (!first) {
        return fail(new VlmError('empty', contentType === 'text/event-stream' ? `${host} sent an empty event stream: no answer.` : `${host} sent an empty reply (HTTP ${response.status}, ${contentType}) instead of an answer.`));
      }
      const readAll = async (limit: number): Promise<string | undefined> => {
        let all = head;
        for (let piece = await reader.next(); piece !== undefined; piece = await reader.next()) {
          all += piece;
          if (all.length > limit) return undefined;
        }
        return all;
      };
      const bodyLimit = answer.cap * 8 + 65_536;
      if (first.startsWith('<')) {
        const page = (await readAll(bodyLimit)) ?? head;
        const title = /<title[^>]*>([^<]*)<\/title>/i.exec(page)?.[1]?.trim();
        return fail(
          new VlmError(
            'malformed',
            `${host} sent an HTML page${title ? ` (${excerpt(title)})` : ''} (HTTP ${response.status}, ${contentType}) instead of a chat completion. Is the base URL right? OpenAI-compatible ones usually end in /v1.`,
          ),
        );
      }
      if (/^(data|event|id|retry):|^:/.test(first)) return await this.readEventStream(head, reader, answer, fail, done);
      // Not an event stream: a server that ignored `stream: true` answers with one JSON completion.
      const all = await readAll(bodyLimit);
      if (all === undefined) return fail(new VlmError('malformed', `${host} sent a reply over ${Math.round(bodyLimit / 1024)} KiB that is not an event stream; stopped reading.`));
      let parsed: unknown;
      try {
        parsed = JSON.parse(all);
      } catch {
        return fail(new VlmError('malformed', `${host} sent a reply that is neither an event stream nor valid JSON (HTTP ${response.status}, ${contentType}, ${reader.bytes} bytes): ${excerpt(all)}.`));
      }
      return this.readCompletion(parsed, all, answer, fail, done);
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

  private async readEventStream(
    head: string,
    reader: BodyText,
    answer: AnswerText,
    fail: (error: VlmError, retryable?: boolean) => Attempt,
    done: (finishReason: string | undefined, model: string, incompleteReason?: string) => Attempt,
  ): Promise<Attempt> {
    const host = this.host;
    const lineLimit = answer.cap * 8 + 65_536;
    let model = this.settings.model;
    let finishReason: string | undefined;
    let events = 0;
    let buffer = head;
    let data: string[] = [];
    let eventName = '';
    // Server-sent events: lines of "field: value", an empty line ends an event (WHATWG HTML §9.2.6).
    const dispatch = (): 'more' | 'done' | 'capped' | Attempt => {
      if (data.length === 0) return 'more';
      const payload = data.join('\n');
      const name = eventName;
      data = [];
      eventName = '';
      events++;
      if (payload.trim() === '[DONE]') return 'done';
      let event: { model?: unknown; error?: unknown; choices?: Array<{ delta?: { content?: unknown }; finish_reason?: unknown }> };
      try {
        event = JSON.parse(payload);
      } catch {
        return fail(new VlmError('malformed', `${host} sent an event that is not valid JSON: ${excerpt(payload)}.`));
      }
      if (name === 'error' || (event && typeof event === 'object' && event.error)) {
        const err = (event?.error ?? event) as { message?: unknown };
        return fail(new VlmError('server', `${host} reported an error in the stream: ${typeof err?.message === 'string' ? err.message.slice(0, 300) : excerpt(payload)}`));
      }
      if (typeof event?.model === 'string' && event.model) model = event.model;
      const choice = Array.isArray(event?.choices) ? event.choices[0] : undefined;
      const content = choice?.delta?.content;
      if (typeof content === 'string' && content && !answer.add(content)) return 'capped';
      if (typeof choice?.finish_reason === 'string') finishReason = choice.finish_reason;
      return 'more';
    };
    let ended = false;
    for (;;) {
      const lines = buffer.split(/\r\n|\r|\n/);
      // The last element is an unfinished line (or ""), kept for the next piece.
      buffer = ended ? '' : lines.pop()!;
      if (buffer.length > lineLimit) return fail(new VlmError('malformed', `${host} sent an event line over ${Math.round(lineLimit / 1024)} KiB; stopped reading.`));
      for (const line of ended ? [...lines, ''] : lines) {
        let step: ReturnType<typeof dispatch> = 'more';
        if (line === '') step = dispatch();
        else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') data.push(value);
          else if (field === 'event') eventName = value;
        }
        if (step === 'done') return this.finishStream(answer, fail, done, finishReason, model, events, true);
        if (step === 'capped') return done(finishReason, model);
        if (step !== 'more') return step;
      }
      if (ended) return this.finishStream(answer, fail, done, finishReason, model, events, false);
      const piece = await reader.next();
      if (piece === undefined) ended = true;
      else buffer += piece;
    }
  }

  private finishStream(
    answer: AnswerText,
    fail: (error: VlmError, retryable?: boolean) => Attempt,
    done: (finishReason: string | undefined, model: string, incompleteReason?: string) => Attempt,
    finishReason: string | undefined,
    model: string,
    events: number,
    sawDone: boolean,
  ): Attempt {
    const host = this.host;
    if (!answer.text.trim()) {
      if (events === 0) return fail(new VlmError('empty', `${host} sent an empty event stream: no answer.`));
      if (finishReason === 'content_filter') return fail(new VlmError('empty', `${host} withheld the answer (finish_reason: content_filter).`));
      return fail(new VlmError('empty', `${host} sent ${events} event(s) but no answer text${finishReason ? ` (finish_reason: ${finishReason})` : ''}.`));
    }
    // A stream that stops without [DONE] or a finish reason was cut short, though the connection closed cleanly.
    if (!sawDone && !finishReason) return done(finishReason, model, `the stream from ${host} ended before the answer finished`);
    return done(finishReason, model);
  }

  /** A non-streamed `chat.completion` (a server that ignored `stream: true`), or an error object. */
  private readCompletion(
    parsed: unknown,
    raw: string,
    answer: AnswerText,
    fail: (error: VlmError, retryable?: boolean) => Attempt,
    done: (finishReason: string | undefined, model: string, incompleteReason?: string) => Attempt,
  ): Attempt {
    const host = this.host;
    const body = parsed as { error?: { message?: unknown }; model?: unknown; choices?: Array<{ message?: { content?: unknown }; finish_reason?: unknown }> } | null;
    if (body && typeof body === 'object' && body.error) {
      const message = typeof body.error.message === 'string' ? body.error.message.slice(0, 300) : excerpt(raw);
      return fail(new VlmError('server', `${host} reported an error: ${message}`));
    }
    const choice = body && typeof body === 'object' && Array.isArray(body.choices) ? body.choices[0] : undefined;
    if (!choice || typeof choice !== 'object' || !choice.message) {
      return fail(new VlmError('malformed', `${host} sent JSON that is not a chat completion: ${excerpt(raw)}.`));
    }
    const content = choice.message.content;
    // Content is a string, or (some servers) a list of {type: "text", text} parts.
    const text =
      typeof content === 'string' ? content
      : Array.isArray(content) ? content.map((p: { text?: unknown }) => (typeof p?.text === 'string' ? p.text : '')).join('')
      : '';
    const finishReason = typeof choice.finish_reason === 'string' ? choice.finish_reason : undefined;
    if (!text.trim()) {
      return fail(new VlmError('empty', finishReason === 'content_filter' ? `${host} withheld the answer (finish_reason: content_filter).` : `${host} sent a completion with no answer text${finishReason ? ` (finish_reason: ${finishReason})` : ''}.`));
    }
    answer.add(text);
    return done(finishReason, typeof body?.model === 'string' && body.model ? body.model : this.settings.model);
  }
}
