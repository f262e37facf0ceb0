/**
 * Asking a vision-language model about an image through any OpenAI-compatible Chat Completions
 * endpoint (OpenAI, Azure OpenAI's /openai/v1/, Ollama, LM Studio, vLLM) with the `openai` SDK.
 * The image goes as a data URL (see vlmImage.ts); answers stream; an AbortSignal cancels; the SDK retries 429/5xx
 * with backoff that honours Retry-After. Errors become VlmErrors that say what to do next.
 */
import OpenAI from 'openai';
import { DEFAULT_BASE_URL, VlmSettings } from './defaults';

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
  | 'cancelled';

export class VlmError extends Error {
  constructor(readonly kind: VlmErrorKind, message: string, readonly status?: number, options?: { cause?: unknown }) {
    super(message, options);
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

export interface AskRequest {
  question: string;
  /** Absent: a text-only request (the batch judge grades answers from text). */
  imageUrl?: string;
  /** Overrides of the settings' temperature and max_tokens for this request. */
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  onDelta?: (text: string) => void;
}

export interface AskResult {
  text: string;
  model: string;
  finishReason?: string;
  elapsedMs: number;
}

const IMAGE_REJECTION = /image|vision|multimodal|multi-modal|image_url|does not support/i;

/** Maps SDK and HTTP failures to errors a user can act on. */
export function describeVlmError(e: unknown, settings: Pick<VlmSettings, 'baseURL' | 'model' | 'timeoutMs'>): VlmError {
  if (e instanceof VlmError) return e;
  const host = safeHost(settings.baseURL);
  if (e instanceof OpenAI.APIUserAbortError || (e instanceof Error && e.name === 'AbortError')) return new VlmError('cancelled', 'Cancelled.');
  if (e instanceof OpenAI.APIConnectionTimeoutError) {
    return new VlmError('timeout', `${host} did not answer within ${Math.round(settings.timeoutMs / 1000)} s. Retry, or raise the timeout setting.`, undefined, { cause: e });
  }
  if (e instanceof OpenAI.APIConnectionError) {
    return new VlmError('unreachable', `Cannot reach ${host}: is the endpoint running and the base URL right?`, undefined, { cause: e });
  }
  if (e instanceof OpenAI.APIError) {
    const detail = apiErrorMessage(e);
    const status = e.status;
    if (status === 401 || status === 403) return new VlmError('auth', `${host} refused the API key (${status}). Set a valid key.`, status, { cause: e });
    if (status === 429) return new VlmError('rate-limited', `${host} is rate-limiting requests (429) and retries ran out. Wait and retry.`, status, { cause: e });
    if (status === 404) return new VlmError('model-not-found', `${host} has no model "${settings.model}" (404): ${detail}. Check the model setting.`, status, { cause: e });
    if ((status === 400 || status === 422) && IMAGE_REJECTION.test(detail)) {
      return new VlmError('no-image-support', `The model "${settings.model}" at ${host} does not accept images: ${detail}. Choose a vision model.`, status, { cause: e });
    }
    if (status !== undefined && status >= 500) return new VlmError('server', `${host} failed (${status}): ${detail}. Retry later.`, status, { cause: e });
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
  const body = e.error as { message?: string } | undefined;
  return (body && typeof body.message === 'string' ? body.message : e.message).slice(0, 300);
}

export class VlmClient {
  private readonly client: OpenAI;

  constructor(readonly settings: VlmSettings) {
    if (!settings.apiKey) {
      throw new VlmError('missing-key', 'No API key is set for the VLM endpoint. Set one (local servers such as Ollama accept any text).');
    }
    endpointHost(settings.baseURL);
    this.client = new OpenAI({
      apiKey: settings.apiKey,
      baseURL: settings.baseURL,
      timeout: settings.timeoutMs,
      maxRetries: settings.maxRetries,
    });
  }

  get host(): string {
    return endpointHost(this.settings.baseURL);
  }

  /** Streams the answer to a question about one image. */
  async ask(req: AskRequest): Promise<AskResult> {
    const s = this.settings;
    const start = performance.now();
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
    if (s.systemPrompt.trim()) messages.push({ role: 'system', content: s.systemPrompt });
    messages.push({
      role: 'user',
      content: req.imageUrl
        ? [
            { type: 'image_url', image_url: { url: req.imageUrl, detail: s.imageDetail } },
            { type: 'text', text: req.question },
          ]
        : req.question,
    });
    let text = '';
    let finishReason: string | undefined;
    let model = s.model;
    try {
      const stream = await this.client.chat.completions.create(
        { model: s.model, messages, stream: true, max_tokens: req.maxTokens ?? s.maxTokens, temperature: req.temperature ?? s.temperature },
        { signal: req.signal },
      );
      for await (const chunk of stream) {
        if (chunk.model) model = chunk.model;
        const choice = chunk.choices?.[0];
        const delta = choice?.delta?.content;
        if (delta) {
          text += delta;
          req.onDelta?.(delta);
        }
        if (choice?.finish_reason) finishReason = choice.finish_reason;
      }
    } catch (e) {
      throw describeVlmError(e, s);
    }
    if (req.signal?.aborted) throw new VlmError('cancelled', 'Cancelled.');
    return { text, model, finishReason, elapsedMs: performance.now() - start };
  }
}
