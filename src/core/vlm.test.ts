import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { FakeVlm, answerFor, startFakeVlm } from '../../test/vlm/server';
import { DEFAULT_VLM_SETTINGS, VlmSettings } from './defaults';
import { VlmClient, describeVlmError, endpointHost } from './vlm';
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
});
