/**
 * A local OpenAI-compatible Chat Completions server (real HTTP on loopback, SSE streaming) for
 * tests: records each request with its decoded image, answers deterministically, and injects
 * faults on demand (429 with Retry-After, 5xx, timeouts, malformed JSON, dropped connections,
 * models that refuse images, slow streams for cancellation) and the misbehaviours of servers
 * met in the wild: a stream that stalls after its first pieces, a connection dropped mid-answer,
 * a stream that never ends (max_tokens ignored), a non-streamed completion or any raw body
 * (HTML, broken JSON, an empty stream) answering a streamed request, an error that echoes the
 * request's Authorization header.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export type Fault =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'malformed' }
  | { kind: 'drop' }
  | { kind: 'slow'; delayMs: number; chunks: number }
  /** SSE headers and the first `afterChunks` pieces, then silence with the connection open. */
  | { kind: 'stall'; afterChunks: number }
  /** The first `afterChunks` pieces, then the socket is destroyed. */
  | { kind: 'drop-mid'; afterChunks: number }
  /** Pieces forever (every `intervalMs`, or as fast as the socket takes them) until the client goes. */
  | { kind: 'endless'; intervalMs?: number }
  /** A non-streamed `chat.completion`, whatever `stream` asked for. */
  | { kind: 'completion'; content?: string | null }
  /** Exactly this body. */
  | { kind: 'raw'; status?: number; contentType: string; body: string }
  /** An error whose message quotes the request's headers, key included. */
  | { kind: 'echo-auth'; status: number };

export interface RecordedRequest {
  authorization?: string;
  body: { model: string; stream?: boolean; messages: Array<{ role: string; content: unknown }>; max_tokens?: number; temperature?: number };
  question?: string;
  /** The image of the last user message, decoded to raw RGB. */
  image?: { mime: string; width: number; height: number; rgb: Buffer };
  detail?: string;
  at: number;
}

export interface FakeVlm {
  /** Base URL ending in /v1. */
  baseURL: string;
  requests: RecordedRequest[];
  /** Faults applied to the next requests, in order (one per request). */
  faults: Fault[];
  /** Every request (not just the next) gets this fault while set. */
  always?: Fault;
  /** A fault chosen by request number (1-based), after `always` and the queue. */
  faultFor?: (n: number) => Fault | undefined;
  /** Scripted answers: what to say to a request (undefined: the default answer). */
  script?: (request: RecordedRequest) => string | undefined;
  /** Requests whose socket closed before the reply finished (cancellations). */
  aborted: number;
  close(): Promise<void>;
}

export function answerFor(question: string | undefined, image: RecordedRequest['image']): string {
  return `Seen a ${image?.width}x${image?.height} image. You asked: ${question}`;
}

async function decodeDataUrl(url: string): Promise<RecordedRequest['image']> {
  const m = /^data:(image\/[a-z]+);base64,(.*)$/s.exec(url);
  if (!m) return undefined;
  const { data, info } = await sharp(Buffer.from(m[2], 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { mime: m[1], width: info.width, height: info.height, rgb: data };
}

function chunk(model: string, content: string | null, finish: string | null): string {
  const payload = { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }] };
  return `data: ${JSON.stringify(payload)}\n\n`;
}

export async function startFakeVlm(opts: { apiKey?: string; acceptsImages?: boolean } = {}): Promise<FakeVlm> {
  const vlm: FakeVlm = { baseURL: '', requests: [], faults: [], aborted: 0, close: async () => undefined };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedRequest['body'];
    const user = [...body.messages].reverse().find((m) => m.role === 'user');
    const parts = Array.isArray(user?.content) ? (user!.content as Array<{ type: string; text?: string; image_url?: { url: string; detail?: string } }>) : [];
    const imagePart = parts.find((p) => p.type === 'image_url');
    const rec: RecordedRequest = {
      authorization: req.headers.authorization,
      body,
      question: parts.find((p) => p.type === 'text')?.text ?? (typeof user?.content === 'string' ? user.content : undefined),
      image: imagePart?.image_url ? await decodeDataUrl(imagePart.image_url.url) : undefined,
      detail: imagePart?.image_url?.detail,
      at: Date.now(),
    };
    vlm.requests.push(rec);
    const json = (status: number, payload: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(payload));

    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      json(401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } });
      return;
    }
    if (opts.acceptsImages === false && rec.image) {
      json(400, { error: { message: 'Invalid content type. image_url is only supported by certain models.', type: 'invalid_request_error' } });
      return;
    }
    const fault = vlm.always ?? vlm.faults.shift() ?? vlm.faultFor?.(vlm.requests.length);
    if (fault?.kind === 'status') {
      json(fault.status, fault.body ?? { error: { message: `injected ${fault.status}` } }, fault.headers);
      return;
    }
    if (fault?.kind === 'echo-auth') {
      json(fault.status, { error: { message: `Bad request. Received headers: authorization: ${req.headers.authorization}; body api_key=${opts.apiKey ?? ''}`, type: 'invalid_request_error' } });
      return;
    }
    if (fault?.kind === 'raw') {
      res.writeHead(fault.status ?? 200, { 'content-type': fault.contentType }).end(fault.body);
      return;
    }
    if (fault?.kind === 'completion') {
      const content = fault.content === undefined ? answerFor(rec.question, rec.image) : fault.content;
      json(200, { id: 'chatcmpl-test', object: 'chat.completion', created: 0, model: `${body.model}-nonstream`, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] });
      return;
    }
    if (fault?.kind === 'hang') {
      res.on('close', () => vlm.aborted++);
      return;
    }
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'malformed' && !body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [ this is not json');
      return;
    }
    const answer = vlm.script?.(rec) ?? answerFor(rec.question, rec.image);
    if (!body.stream) {
      json(200, { id: 'chatcmpl-test', object: 'chat.completion', created: 0, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }] });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    if (fault?.kind === 'malformed') {
      res.end('data: {"choices": [ broken\n\n');
      return;
    }
    let closed = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        closed = true;
        vlm.aborted++;
      }
    });
    if (fault?.kind === 'endless') {
      for (let i = 0; !closed; i++) {
        const more = res.write(chunk(body.model, `word${i} `, null));
        if (fault.intervalMs) await new Promise((r) => setTimeout(r, fault.intervalMs));
        else if (!more) {
          await new Promise<void>((resolve) => {
            const go = () => {
              res.off('drain', go).off('close', go);
              resolve();
            };
            res.on('drain', go).on('close', go);
          });
        }
      }
      return;
    }
    const words = answer.split(/(?<= )/);
    if (fault?.kind === 'stall' || fault?.kind === 'drop-mid') {
      res.flushHeaders();
      for (const word of words.slice(0, fault.afterChunks)) res.write(chunk(body.model, word, null));
      // Let the pieces reach the client before the connection goes.
      if (fault.kind === 'drop-mid') setTimeout(() => req.socket.destroy(), 50);
      return;
    }
    const pieces = fault?.kind === 'slow' ? Math.min(fault.chunks, words.length) : words.length;
    for (let i = 0; i < words.length && !closed; i++) {
      if (fault?.kind === 'slow' && i < pieces) await new Promise((r) => setTimeout(r, fault.delayMs));
      res.write(chunk(body.model, words[i], null));
    }
    if (closed) return;
    res.write(chunk(body.model, null, 'stop'));
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  vlm.baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  vlm.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return vlm;
}
