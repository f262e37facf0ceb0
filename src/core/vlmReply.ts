/**
 * Reading a VLM's reply, and its limits: a 200 is read by what it is (an event stream, a
 * non-streamed completion whose text is used, or anything else: an error naming what came back);
 * an empty answer is never a success; an answer longer than the cap (a server ignoring
 * max_tokens) is cut and marked incomplete; a line or body far over the cap stops the reading.
 */
import { VLM_LIMITS, VlmSettings } from './defaults';
import { StreamRedactor, redactSecrets } from './redact';
import { VlmError } from './vlmError';
import type { Attempt } from './vlmRetry';

/** The stored answer's length limit: far above what max_tokens allows, so only a server ignoring it reaches it. */
export function answerCharCap(s: Pick<VlmSettings, 'maxTokens' | 'maxAnswerChars'>): number {
  return s.maxAnswerChars ?? Math.max(VLM_LIMITS.minAnswerChars, s.maxTokens * VLM_LIMITS.maxCharsPerToken);
}

/** A short, single-line, credential-free excerpt of what a server sent, for error messages. */
function excerpt(text: string, max = 80): string {
  const line = redactSecrets(text).replace(/\s+/g, ' ').trim();
  return JSON.stringify(line.length > max ? `${line.slice(0, max)}…` : line);
}

/** Reads a response body as text, resetting the silence timer on every byte received. */
export class BodyText {
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
export class AnswerText {
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

/** The most characters read for one event line or a whole non-stream body: far above any answer under the cap. */
function readLimit(answer: AnswerText): number {
  return answer.cap * 8 + 65_536;
}

/** What reading a reply needs from the attempt: the host and model for messages, the answer so far, and how to end. */
export interface ReplyReading {
  host: string;
  /** The model asked for (a reply may name another). */
  model: string;
  answer: AnswerText;
  fail: (error: VlmError, retryable?: boolean) => Attempt;
  done: (finishReason: string | undefined, model: string, incompleteReason?: string) => Attempt;
}

/** Reads a 200 reply's body by what it turns out to be. */
export async function readReply(response: Response, reader: BodyText, r: ReplyReading): Promise<Attempt> {
  const { host, answer, fail } = r;
  const contentType = (response.headers.get('content-type') ?? 'no content type').split(';')[0].trim();

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
  const bodyLimit = readLimit(answer);
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
  if (/^(data|event|id|retry):|^:/.test(first)) return await readEventStream(head, reader, r);
  // Not an event stream: a server that ignored `stream: true` answers with one JSON completion.
  const all = await readAll(bodyLimit);
  if (all === undefined) return fail(new VlmError('malformed', `${host} sent a reply over ${Math.round(bodyLimit / 1024)} KiB that is not an event stream; stopped reading.`));
  let parsed: unknown;
  try {
    parsed = JSON.parse(all);
  } catch {
    return fail(new VlmError('malformed', `${host} sent a reply that is neither an event stream nor valid JSON (HTTP ${response.status}, ${contentType}, ${reader.bytes} bytes): ${excerpt(all)}.`));
  }
  return readCompletion(parsed, all, r);
}

async function readEventStream(head: string, reader: BodyText, r: ReplyReading): Promise<Attempt> {
  const { host, answer, fail, done } = r;
  const lineLimit = readLimit(answer);
  let model = r.model;
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
      if (step === 'done') return finishStream(r, finishReason, model, events, true);
      if (step === 'capped') return done(finishReason, model);
      if (step !== 'more') return step;
    }
    if (ended) return finishStream(r, finishReason, model, events, false);
    const piece = await reader.next();
    if (piece === undefined) ended = true;
    else buffer += piece;
  }
}

function finishStream(r: ReplyReading, finishReason: string | undefined, model: string, events: number, sawDone: boolean): Attempt {
  const { host, answer, fail, done } = r;
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
function readCompletion(parsed: unknown, raw: string, r: ReplyReading): Attempt {
  const { host, answer, fail, done } = r;
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
  return done(finishReason, typeof body?.model === 'string' && body.model ? body.model : r.model);
}
