/**
 * The text side: Transformers.js's CLIP tokenizer and CLIPTextModelWithProjection, with CLIP's
 * 77-token truncation reported back and embeddings cached per distinct query.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomicSync } from './atomicWrite';
import { AttentionPromptError } from './errors';
import type { TransformersModule } from './transformers';
import type * as Ort from 'onnxruntime-node';
import { modelFilePath } from './modelCache';
import { downloadModelFile } from './modelDownload';
import { towerDtypes, towerFile } from './modelFiles';
import { describeLoadError } from './modelLoadError';
import { ModelLocation, DownloadProgress } from './modelLocation';
import { configureTransformers, pretrainedOptions } from './transformersSource';
import { prepareLinkedGraph } from './onnx/visionGraph';
import { TEXT_IDLE_RELEASE_MS } from './defaults';

/** The text model's file (downloaded into the cache when missing), as its prepared linked graph where the cache allows. */
async function textModelPath(loc: ModelLocation, cacheDir: string, onProgress?: (p: DownloadProgress) => void, signal?: AbortSignal): Promise<string> {
  const file = towerFile('text', towerDtypes(loc).text);
  let source = modelFilePath(loc, file);
  if (!fs.existsSync(source)) {
    if (loc.local) throw new AttentionPromptError('model-missing', `Missing ${file} (looked at ${source}).`);
    source = await downloadModelFile(loc, file, onProgress, signal);
  }
  return (await prepareLinkedGraph(source, cacheDir)) ?? source;
}

export const CLIP_CONTEXT_LENGTH = 77;
/** Far beyond what CLIP reads; longer input is almost certainly a mistake (a pasted file). */
export const MAX_QUERY_CHARS = 4000;

export interface TextEmbedding {
  /** L2-normalised text embedding. */
  embedding: Float32Array;
  /** Token count before truncation, start and end tokens included. */
  tokens: number;
  /** True when CLIP's 77-token limit cut the text. */
  truncated: boolean;
  /** The text that was embedded. */
  text: string;
}

export function validateQuery(query: unknown, what = 'question'): string {
  if (typeof query !== 'string' || query.trim() === '') {
    throw new AttentionPromptError('bad-query', `The ${what} is empty: type what you want to know about the image.`);
  }
  if (query.length > MAX_QUERY_CHARS) {
    throw new AttentionPromptError('bad-query', `The ${what} is ${query.length} characters long; the limit is ${MAX_QUERY_CHARS} (CLIP reads only its first ${CLIP_CONTEXT_LENGTH} tokens).`);
  }
  return query.trim();
}

/**
 * CLIP's truncation: keep the first 76 tokens and the end token (openai/CLIP tokenize with
 * truncate=True). Returns the ids to feed and whether anything was cut.
 */
export function truncateForClip(ids: number[]): { ids: number[]; truncated: boolean } {
  if (ids.length <= CLIP_CONTEXT_LENGTH) return { ids, truncated: false };
  return { ids: [...ids.slice(0, CLIP_CONTEXT_LENGTH - 1), ids[ids.length - 1]], truncated: true };
}

export function l2normalize(x: ArrayLike<number>): Float32Array {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  const n = Math.sqrt(s) || 1;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] / n;
  return out;
}

type T = TransformersModule;
type Tokenizer = Awaited<ReturnType<T['AutoTokenizer']['from_pretrained']>>;

export class ClipTextEncoder {
  private readonly cache = new Map<string, TextEmbedding>();
  private constructor(private readonly tokenizer: Tokenizer, private readonly session: Ort.InferenceSession, readonly modelPath: string, private readonly cacheSize: number) {}

  /**
   * The tokenizer through Transformers.js; the text model as an ONNX Runtime session of our own,
   * created from a file path (the graph prepared with its weights linked, see prepareLinkedGraph)
   * so the weights are mapped rather than read and copied: the text tower's load no longer holds
   * its weights twice. The file is the one Transformers.js's CLIPTextModelWithProjection would open
   * (onnx/text_model{dtype suffix}.onnx), run on the same inputs.
   */
  static async load(t: T, loc: ModelLocation, opts: { onProgress?: (p: DownloadProgress) => void; signal?: AbortSignal; threads?: number; cacheSize?: number; cacheDir?: string } = {}): Promise<ClipTextEncoder> {
    configureTransformers(t, loc);
    const common = pretrainedOptions(loc, opts.onProgress);
    try {
      const [tokenizer, modelPath] = await Promise.all([t.AutoTokenizer.from_pretrained(loc.pretrainedId, common), textModelPath(loc, opts.cacheDir ?? loc.cacheDir, opts.onProgress, opts.signal)]);
      const ort = await import('onnxruntime-node');
      const session = await ort.InferenceSession.create(modelPath, {
        ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
        graphOptimizationLevel: 'all',
        // One short sequence per question: packed weight copies would cost memory for no speed.
        extra: { session: { disable_prepacking: '1' } },
      });
      for (const name of session.inputNames) {
        if (name !== 'input_ids' && name !== 'attention_mask') throw new AttentionPromptError('model-structure', `The text model ${modelPath} asks for an input "${name}"; expected input_ids (and attention_mask).`);
      }
      if (!session.outputNames.includes('text_embeds')) throw new AttentionPromptError('model-structure', `The text model ${modelPath} has no text_embeds output (outputs: ${session.outputNames.join(', ')}).`);
      return new ClipTextEncoder(tokenizer, session, modelPath, opts.cacheSize ?? 256);
    } catch (e) {
      if (e instanceof AttentionPromptError) throw e;
      throw describeLoadError(loc, e);
    }
  }

  tokenize(text: string): number[] {
    const enc = this.tokenizer(text, { add_special_tokens: true });
    return Array.from(enc.input_ids.data as ArrayLike<bigint | number>, Number);
  }

  /** Embeds a query (cached per exact text). */
  async embed(query: string): Promise<TextEmbedding> {
    const text = validateQuery(query);
    const hit = this.cache.get(text);
    if (hit) {
      // Refresh recency: Map keeps insertion order, so re-insert.
      this.cache.delete(text);
      this.cache.set(text, hit);
      return hit;
    }
    const all = this.tokenize(text);
    const { ids, truncated } = truncateForClip(all);
    const ort = await import('onnxruntime-node');
    const feeds: Record<string, Ort.Tensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) };
    // One unpadded sequence: every position is attended to.
    if (this.session.inputNames.includes('attention_mask')) feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
    const out = await this.session.run(feeds, ['text_embeds']);
    const result: TextEmbedding = { embedding: l2normalize(out.text_embeds.data as Float32Array), tokens: all.length, truncated, text };
    this.cache.set(text, result);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    return result;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * The text tower, loaded only when an embedding is not already known. Embeddings are cached in
 * memory and on disk (one small file per distinct text, keyed by the text model file's identity),
 * so a process that asks known questions never pays for the text model's load or memory.
 */
export class TextTower {
  private encoder: Promise<ClipTextEncoder> | undefined;
  private readonly memory = new Map<string, TextEmbedding>();
  private diskDir: string | undefined | null = null;
  /** Embeds waiting on or running the text model: the idle release waits for them. */
  private embedding = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** How long the last load of the text model took (set when an embed had to load it). */
  loadMs: number | undefined;

  constructor(
    private readonly t: T,
    private readonly loc: ModelLocation,
    private readonly textModelPath: string,
    private readonly cacheDir: string,
    /** `signal` stops a download of the text model (the engine's load passes its own). */
    private readonly opts: { onProgress?: (p: DownloadProgress) => void; signal?: AbortSignal; threads?: number; idleReleaseMs?: number } = {},
  ) {}

  get loaded(): boolean {
    return this.encoder !== undefined;
  }

  /** Starts loading the tokenizer and text model (idempotent); released again after the idle time. */
  warm(): Promise<ClipTextEncoder> {
    if (!this.encoder) {
      const encoder = ClipTextEncoder.load(this.t, this.loc, { ...this.opts, cacheDir: this.cacheDir });
      this.encoder = encoder;
      encoder.then(
        () => this.releaseWhenIdle(),
        () => {
          if (this.encoder === encoder) this.encoder = undefined;
        },
      );
    }
    return this.encoder;
  }

  /** Releases the text model now (embeddings stay known); a later new question loads it again. */
  async release(): Promise<void> {
    clearTimeout(this.idleTimer);
    const enc = this.encoder;
    this.encoder = undefined;
    if (enc) await enc.then((x) => x.dispose()).catch(() => undefined);
  }

  /** (Re)starts the idle clock: the model goes once `idleReleaseMs` pass with no embed running. */
  private releaseWhenIdle(): void {
    const ms = this.opts.idleReleaseMs ?? TEXT_IDLE_RELEASE_MS;
    clearTimeout(this.idleTimer);
    if (!Number.isFinite(ms) || !this.encoder) return;
    this.idleTimer = setTimeout(() => {
      if (this.embedding === 0) void this.release();
    }, ms);
    // The clock never keeps a process alive that has nothing else to do.
    this.idleTimer.unref();
  }

  private disk(): string | undefined {
    if (this.diskDir !== null) return this.diskDir;
    if (!fs.existsSync(this.textModelPath)) return undefined; // not downloaded yet: decide later
    const st = fs.statSync(this.textModelPath);
    const key = crypto.createHash('sha256').update(`${path.resolve(this.textModelPath)}|${st.size}|${Math.round(st.mtimeMs)}`).digest('hex').slice(0, 20);
    this.diskDir = path.join(this.cacheDir, 'text-embeddings', key);
    return this.diskDir;
  }

  /** True when `query`'s embedding is in memory or on disk (embedding it will not load the text model). */
  known(query: string): boolean {
    const text = query.trim();
    if (this.memory.has(text)) return true;
    const dir = this.disk();
    return !!dir && fs.existsSync(path.join(dir, `${crypto.createHash('sha256').update(text).digest('hex').slice(0, 32)}.json`));
  }

  async embed(query: string): Promise<TextEmbedding> {
    const text = validateQuery(query);
    const hit = this.memory.get(text);
    if (hit) return hit;
    const dir = this.disk();
    const file = dir && path.join(dir, `${crypto.createHash('sha256').update(text).digest('hex').slice(0, 32)}.json`);
    if (file && fs.existsSync(file)) {
      try {
        const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { text: string; tokens: number; truncated: boolean; embedding: string };
        if (saved.text === text) {
          const b = Buffer.from(saved.embedding, 'base64');
          const e: TextEmbedding = { text, tokens: saved.tokens, truncated: saved.truncated, embedding: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) };
          this.remember(text, e);
          return e;
        }
      } catch {
        // a damaged cache file: compute again below
      }
    }
    const loadStart = performance.now();
    const wasLoaded = this.encoder !== undefined;
    let e: TextEmbedding;
    this.embedding++;
    try {
      const encoder = await this.warm();
      if (!wasLoaded) this.loadMs = performance.now() - loadStart;
      e = await encoder.embed(text);
    } finally {
      this.embedding--;
      this.releaseWhenIdle();
    }
    this.remember(text, e);
    const target = this.disk() && path.join(this.disk()!, `${crypto.createHash('sha256').update(text).digest('hex').slice(0, 32)}.json`);
    if (target) {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      const buf = Buffer.from(e.embedding.buffer, e.embedding.byteOffset, e.embedding.byteLength);
      writeFileAtomicSync(target, JSON.stringify({ text, tokens: e.tokens, truncated: e.truncated, embedding: buf.toString('base64') }));
    }
    return e;
  }

  private remember(text: string, e: TextEmbedding): void {
    this.memory.set(text, e);
    if (this.memory.size > 1024) this.memory.delete(this.memory.keys().next().value!);
  }

  async dispose(): Promise<void> {
    await this.release();
  }
}
