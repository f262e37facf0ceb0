import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { FakeVlm, answerFor, startFakeVlm } from '../../test/vlm/server';
import { REDACTED } from './redact';
import { DEFAULT_VLM_SETTINGS, VlmSettings } from './defaults';
import { endpointHost } from './endpointUrl';
import { VlmClient, VlmError, describeVlmError } from './vlm';
import { answerCharCap } from './vlmReply';
import { retryAfterMs } from './vlmRetry';
import { imageDataUrl } from './vlmImage';

const red = () => sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 200, g: 10, b: 10 } } });

describe('VLM client against a local OpenAI-compatible server', () => {
  let vlm: FakeVlm;
  let settings: VlmSettings;
  before(async () => {
    vlm = await startFakeVlm({ apiKey: 'sk-test' });
    settings = { ...DEFAULT_VLM_SETTINGS, baseURL: vlm.baseURL, apiKey: 'sk-test', model: 'test-vision', timeoutMs: 2000, maxRetries: 2 };
  });
  after(() => vlm.close());

  it('sends the image as a data URL with the question and streams the answer', async () => {
    const image = await imageDataUrl(red(), { sourceFormat: 'png' });
    assert.equal(image.mime, 'image/png');
    const deltas: string[] = [];
    const result = await new VlmClient({ ...settings, imageDetail: 'high', systemPrompt: 'Be brief.' }).ask({ question: 'What colour?', imageUrl: image.url, onDelta: (d) => deltas.push(d) });
    const req = vlm.requests.at(-1)!;
    assert.equal(req.authorization, 'Bearer sk-test');
    assert.equal(req.body.stream, true);
    assert.equal(req.body.model, 'test-vision');
    assert.equal(req.detail, 'high');
    assert.equal(req.body.messages[0].role, 'system');
    assert.deepEqual([req.image!.width, req.image!.height], [300, 200]);
    assert.deepEqual([...req.image!.rgb.subarray(0, 3)], [200, 10, 10], 'PNG is lossless');
    assert.equal(result.text, answerFor('What colour?', req.image));
    assert.ok(deltas.length > 3, 'streamed in pieces');
    assert.equal(deltas.join(''), result.text);
    assert.equal(result.finishReason, 'stop');
  });

  it('converts other formats and downscales large images', async () => {
    const webp = sharp(await red().resize(4000, 3000).webp().toBuffer());
    const photo = await imageDataUrl(webp, { sourceFormat: 'jpeg' });
    assert.equal(photo.mime, 'image/jpeg');
    const meta = await sharp(Buffer.from(photo.url.split(',')[1], 'base64')).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 2048, 1536]);
    const fallback = await imageDataUrl(red(), { format: 'png', maxBytes: 10 });
    assert.equal(fallback.mime, 'image/jpeg', 'PNG over the size limit goes as JPEG');
  });

  it('retries a 429 after Retry-After, and a 500', async () => {
    vlm.faults.push({ kind: 'status', status: 429, headers: { 'retry-after': '1' } }, { kind: 'status', status: 500 });
    const n = vlm.requests.length;
    const t0 = Date.now();
    const result = await new VlmClient(settings).ask({ question: 'again?', imageUrl: (await imageDataUrl(red())).url });
    assert.equal(vlm.requests.length - n, 3);
    assert.ok(Date.now() - t0 >= 900, 'waited for Retry-After');
    assert.match(result.text, /You asked: again\?/);
  });

  it('gives each failure a clear, actionable error', async () => {
    const url = (await imageDataUrl(red())).url;
    const expect = async (s: Partial<VlmSettings>, kind: string, message: RegExp, fault?: () => void) => {
      fault?.();
      await assert.rejects(new VlmClient({ ...settings, ...s }).ask({ question: 'q', imageUrl: url }), (e: Error & { kind?: string }) => {
        assert.equal(e.kind, kind, e.message);
        assert.match(e.message, message);
        assert.doesNotMatch(e.message, /sk-test|sk-wrong/, 'no key in messages');
        return true;
      });
    };
    await expect({ apiKey: 'sk-wrong' }, 'auth', /refused the API key \(401\)/);
    await expect({ maxRetries: 0 }, 'rate-limited', /rate-limiting/, () => vlm.faults.push({ kind: 'status', status: 429 }));
    await expect({ maxRetries: 0 }, 'server', /failed \(503\)/, () => vlm.faults.push({ kind: 'status', status: 503 }));
    await expect({ maxRetries: 0, timeoutMs: 300 }, 'timeout', /did not answer within 0 s|did not answer/, () => vlm.faults.push({ kind: 'hang' }));
    await expect({ maxRetries: 0 }, 'unreachable', /Cannot reach/, () => vlm.faults.push({ kind: 'drop' }));
    await expect({ maxRetries: 0 }, 'malformed', /not valid JSON/, () => vlm.faults.push({ kind: 'malformed' }));
    await expect({ baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0 }, 'unreachable', /Cannot reach 127\.0\.0\.1:9/);
    await expect({ maxRetries: 0 }, 'model-not-found', /no model "test-vision"/, () => vlm.faults.push({ kind: 'status', status: 404, body: { error: { message: 'The model does not exist' } } }));
    assert.throws(() => new VlmClient({ ...settings, apiKey: '' }), { kind: 'missing-key' });
    assert.throws(() => endpointHost('not a url'), { kind: 'bad-request' });
  });

  it('a model that refuses images gets a clear message, not a text-only answer', async () => {
    const textOnly = await startFakeVlm({ acceptsImages: false });
    try {
      await assert.rejects(new VlmClient({ ...settings, baseURL: textOnly.baseURL }).ask({ question: 'q', imageUrl: (await imageDataUrl(red())).url }), {
        kind: 'no-image-support',
        message: /does not accept images.*Choose a vision model/,
      });
    } finally {
      await textOnly.close();
    }
  });

  it('cancels mid-stream through an AbortSignal', async () => {
    vlm.faults.push({ kind: 'slow', delayMs: 150, chunks: 20 });
    const controller = new AbortController();
    const deltas: string[] = [];
    const before = vlm.aborted;
    const pending = new VlmClient(settings).ask({
      question: 'a long question to stream slowly',
      imageUrl: (await imageDataUrl(red())).url,
      signal: controller.signal,
      onDelta: (d) => {
        deltas.push(d);
        if (deltas.length === 2) controller.abort();
      },
    });
    await assert.rejects(pending, { kind: 'cancelled' });
    assert.equal(deltas.length, 2);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(vlm.aborted, before + 1, 'the server saw the connection close');
  });

  it('describes unknown errors without crashing', () => {
    assert.equal(describeVlmError(new Error('boom'), settings).kind, 'server');
  });

  it('implements AnswerProvider: image bytes in, the data URL built inside', async () => {
    const png = await red().png().toBuffer();
    const client = new VlmClient(settings);
    assert.equal(client.kind, 'openai');
    assert.deepEqual(client.label, { model: 'test-vision', where: new URL(vlm.baseURL).host });
    const result = await client.answer({ question: 'bytes?', image: { bytes: new Uint8Array(png), mime: 'image/png' } });
    const req = vlm.requests.at(-1)!;
    assert.equal(req.image?.mime, 'image/png');
    assert.deepEqual([req.image!.width, req.image!.height], [300, 200]);
    assert.equal(result.text, answerFor('bytes?', req.image));
    assert.equal(result.incomplete, undefined);
    // Text only, with per-request settings (the batch judge).
    const graded = await client.answer({ question: 'grade this', maxTokens: 3, temperature: 0.5 });
    const text = vlm.requests.at(-1)!;
    assert.deepEqual([text.body.max_tokens, text.body.temperature, text.image, text.body.messages.at(-1)!.content], [3, 0.5, undefined, 'grade this']);
    assert.equal(graded.text, answerFor('grade this', undefined));
  });
});

/** A request to the shared fake server with one injected fault; the image is tiny. */
describe('VLM client against misbehaving servers', () => {
  const KEY = 'sk-proj-Q9xTestSecretKey0123456789';
  let vlm: FakeVlm;
  let settings: VlmSettings;
  let url: string;
  before(async () => {
    vlm = await startFakeVlm({ apiKey: KEY });
    // Generous silence limit, so a busy machine never turns an ordinary reply into a timeout; the stall tests set their own.
    settings = { ...DEFAULT_VLM_SETTINGS, baseURL: vlm.baseURL, apiKey: KEY, model: 'test-vision', timeoutMs: 10_000, maxRetries: 0 };
    url = (await imageDataUrl(red().resize(32, 32))).url;
  });
  after(() => vlm.close());
  const ask = (s: Partial<VlmSettings> = {}, signal?: AbortSignal, onDelta?: (d: string) => void) => new VlmClient({ ...settings, ...s }).ask({ question: 'q?', imageUrl: url, signal, onDelta });
  const rejects = (p: Promise<unknown>, kind: string, message: RegExp) =>
    assert.rejects(p, (e: VlmError) => {
      assert.ok(e instanceof VlmError, String(e));
      assert.equal(e.kind, kind, e.message);
      assert.match(e.message, message);
      return true;
    });
  const closedByClient = async (before: number) => {
    for (let i = 0; i < 100 && vlm.aborted === before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(vlm.aborted, before + 1, 'the client closed the connection');
  };

  it('a stream that stalls after its first pieces fails with a timeout and closes the connection', { timeout: 20_000 }, async () => {
    vlm.faults.push({ kind: 'stall', afterChunks: 2 });
    const before = vlm.aborted;
    const deltas: string[] = [];
    await assert.rejects(ask({ timeoutMs: 1500 }, undefined, (d) => deltas.push(d)), (e: VlmError) => {
      assert.equal(e.kind, 'timeout');
      assert.match(e.message, /sent nothing for 1\.5 s after \d+ characters of the answer/);
      assert.equal(e.partialText, deltas.join(''));
      assert.ok(e.partialText!.length > 0);
      return true;
    });
    await closedByClient(before);
  });

  it('a stall before the first piece is retried, then fails with a timeout', { timeout: 20_000 }, async () => {
    vlm.faults.push({ kind: 'stall', afterChunks: 0 }, { kind: 'stall', afterChunks: 0 });
    const n = vlm.requests.length;
    await rejects(ask({ maxRetries: 1, timeoutMs: 1500 }), 'timeout', /did not answer within 1\.5 s\. Retry/);
    assert.equal(vlm.requests.length - n, 2);
  });

  it('the whole answer is bounded even when pieces keep coming', { timeout: 20_000 }, async () => {
    vlm.faults.push({ kind: 'endless', intervalMs: 50 });
    const before = vlm.aborted;
    await rejects(ask({ answerTimeoutMs: 1500, maxAnswerChars: 1_000_000 }), 'timeout', /did not finish the answer within 1\.5 s \(\d+ characters had arrived\)/);
    await closedByClient(before);
  });

  it('accepts a non-streamed completion from a server that ignores stream: true', async () => {
    vlm.faults.push({ kind: 'completion' });
    const deltas: string[] = [];
    const result = await ask({}, undefined, (d) => deltas.push(d));
    assert.equal(result.text, answerFor('q?', vlm.requests.at(-1)!.image));
    assert.equal(deltas.join(''), result.text);
    assert.equal(result.model, 'test-vision-nonstream');
    assert.equal(result.finishReason, 'stop');
  });

  it('broken 200 replies are errors that name what came back, never empty answers', async () => {
    vlm.faults.push({ kind: 'raw', contentType: 'application/json', body: '{not json' });
    await rejects(ask(), 'malformed', /neither an event stream nor valid JSON \(HTTP 200, application\/json, 9 bytes\): "\{not json"/);
    vlm.faults.push({ kind: 'raw', contentType: 'text/html', body: '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>' });
    await rejects(ask(), 'malformed', /sent an HTML page \("502 Bad Gateway"\) \(HTTP 200, text\/html\).*base URL/);
    vlm.faults.push({ kind: 'raw', contentType: 'text/event-stream', body: '' });
    await rejects(ask(), 'empty', /empty event stream/);
    vlm.faults.push({ kind: 'raw', contentType: 'text/event-stream', body: 'data: [DONE]\n\n' });
    await rejects(ask(), 'empty', /1 event\(s\) but no answer text/);
    const finished = `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`;
    vlm.faults.push({ kind: 'raw', contentType: 'text/event-stream', body: finished });
    await rejects(ask(), 'empty', /no answer text \(finish_reason: stop\)/);
    vlm.faults.push({ kind: 'completion', content: '' });
    await rejects(ask(), 'empty', /completion with no answer text/);
    vlm.faults.push({ kind: 'completion', content: null });
    await rejects(ask(), 'empty', /completion with no answer text/);
    vlm.faults.push({ kind: 'raw', contentType: 'application/json', body: '{"object":"list","data":[]}' });
    await rejects(ask(), 'malformed', /JSON that is not a chat completion/);
    vlm.faults.push({ kind: 'raw', contentType: 'text/plain', body: 'OK' });
    await rejects(ask(), 'malformed', /neither an event stream nor valid JSON \(HTTP 200, text\/plain, 2 bytes\): "OK"/);
    vlm.faults.push({ kind: 'raw', contentType: 'text/event-stream', body: `data: ${JSON.stringify({ error: { message: 'model overloaded' } })}\n\n` });
    await rejects(ask(), 'server', /reported an error in the stream: model overloaded/);
  });

  it('an event stream is parsed by the SSE rules: CRLF, comments, multi-line data, no [DONE] after a finish reason', async () => {
    const event = (o: unknown) => `data: ${JSON.stringify(o)}\r\n\r\n`;
    const body = `: keep-alive\r\n\r\n${event({ model: 'm1', choices: [{ delta: { content: 'Hello' } }] })}data: {"choices": [{"delta":\r\ndata: {"content": " world"}}]}\r\n\r\n${event({ choices: [{ delta: {}, finish_reason: 'stop' }] })}`;
    vlm.faults.push({ kind: 'raw', contentType: 'text/event-stream', body });
    const result = await ask();
    assert.deepEqual([result.text, result.model, result.finishReason, result.incomplete], ['Hello world', 'm1', 'stop', undefined]);
  });

  it('caps Retry-After: a server asking for 100000 s fails at once and says so', { timeout: 20_000 }, async () => {
    vlm.faults.push({ kind: 'status', status: 429, headers: { 'retry-after': '100000' } });
    const n = vlm.requests.length;
    await rejects(ask({ maxRetries: 3 }), 'rate-limited', /retry after 100000 s \(27\.8 h\) \(Retry-After\); this client waits at most 60 s/);
    assert.equal(vlm.requests.length - n, 1, 'no second request');
    vlm.faults.push({ kind: 'status', status: 503, headers: { 'retry-after-ms': '5000' } });
    await rejects(ask({ maxRetries: 3, maxRetryWaitMs: 1000 }), 'server', /retry after 5 s .*at most 1 s/);
  });

  it('a retry wait ends as soon as the caller aborts', { timeout: 10_000 }, async () => {
    vlm.faults.push({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });
    const controller = new AbortController();
    const n = vlm.requests.length;
    const pending = rejects(ask({ maxRetries: 2, answerTimeoutMs: 120_000 }, controller.signal), 'cancelled', /Cancelled/);
    while (vlm.requests.length === n) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    await pending;
    assert.equal(vlm.requests.length - n, 1);
  });

  it('a very long timeout is a long timeout, not an immediate one (timers overflow past 24.8 days)', async () => {
    const result = await ask({ timeoutMs: 600_000_000 });
    assert.equal(result.text, answerFor('q?', vlm.requests.at(-1)!.image));
  });

  it('reads Retry-After as seconds, an HTTP date or retry-after-ms', () => {
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '2.5' })), 2500);
    assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '120', 'retry-after': '9' })), 120);
    const date = retryAfterMs(new Headers({ 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() }))!;
    assert.ok(date > 3_500_000 && date <= 3_600_000, String(date));
    assert.equal(retryAfterMs(new Headers({ 'retry-after': 'soon' })), undefined);
    assert.equal(retryAfterMs(new Headers()), undefined);
  });

  it('a server echoing the Authorization header never gets the key into a message', async () => {
    for (const status of [400, 401, 500, 404, 422]) {
      vlm.faults.push({ kind: 'echo-auth', status });
      await assert.rejects(ask(), (e: VlmError) => {
        assert.ok(!e.message.includes(KEY), e.message);
        assert.doesNotMatch(e.message, /Q9xTestSecret/);
        if (status !== 401) assert.match(e.message, /authorization: \[redacted\]/);
        return true;
      });
    }
    // An answer quoting the key: the stored text and the streamed pieces hold no key.
    vlm.faults.push({ kind: 'completion', content: `Your key is ${KEY}, right?` });
    const deltas: string[] = [];
    const result = await ask({}, undefined, (d) => deltas.push(d));
    assert.equal(result.text, `Your key is ${REDACTED}, right?`);
    assert.equal(deltas.join(''), result.text);
    // Only the key: an answer that reads "token: …" off a sign is left as it is.
    vlm.faults.push({ kind: 'completion', content: 'The sign says: token: ABCD-1234-EFGH' });
    assert.equal((await ask()).text, 'The sign says: token: ABCD-1234-EFGH');
  });

  it('a connection dropped mid-answer keeps what arrived, marked incomplete', { timeout: 20_000 }, async () => {
    vlm.faults.push({ kind: 'drop-mid', afterChunks: 3 });
    const deltas: string[] = [];
    const result = await ask({}, undefined, (d) => deltas.push(d));
    const full = answerFor('q?', vlm.requests.at(-1)!.image);
    assert.equal(result.text, full.split(/(?<= )/).slice(0, 3).join(''));
    assert.equal(deltas.join(''), result.text);
    assert.equal(result.incomplete, true);
    assert.match(result.incompleteReason!, /connection to 127\.0\.0\.1:\d+ dropped after \d+ characters/);
    // Dropped before any text: an error (retried like any connection failure).
    vlm.faults.push({ kind: 'drop-mid', afterChunks: 0 });
    await rejects(ask(), 'unreachable', /dropped before the answer started/);
  });

  it('an endless answer (max_tokens ignored) is cut at the cap, marked, and the stream closed', { timeout: 20_000 }, async () => {
    vlm.faults.push({ kind: 'endless' });
    const before = vlm.aborted;
    let streamed = 0;
    const result = await ask({ maxTokens: 16 }, undefined, (d) => (streamed += d.length));
    const cap = answerCharCap({ maxTokens: 16 });
    assert.equal(cap, 4096);
    assert.equal(result.text.length, cap);
    assert.equal(streamed, cap);
    assert.equal(result.incomplete, true);
    assert.match(result.incompleteReason!, /cut at 4096 characters: .* sent more than max_tokens \(16\) allows/);
    await closedByClient(before);
    // A non-streamed answer over the cap is cut too.
    vlm.faults.push({ kind: 'completion', content: 'x'.repeat(10_000) });
    const long = await ask({ maxAnswerChars: 5000 });
    assert.deepEqual([long.text.length, long.incomplete], [5000, true]);
  });
});
