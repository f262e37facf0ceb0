/**
 * The attention-prompt engine: loads a CLIP export once, then turns (image, question) into the
 * paper's attribution maps and mask, and the mask into full-resolution outputs.
 * No `vscode` import: the CLI, the extension's engine process and the batch runner all use this.
 */
import type * as Ort from 'onnxruntime-node';
import { RawScores, rawScores, BlockTensors } from './attribution';
import { AttentionPromptError, throwIfAborted } from './errors';
import { DecodedImage } from './image';
import { clipInput } from './modelInput';
import { CLIP_CONFIG_FIELDS, checkConfigNumbers } from './modelConfig';
import * as path from 'node:path';
import { DEFAULT_MASK_PARAMETERS, mergeMaps } from './maps';
import { type MaskParameters, checkMaskParameters } from './maskParameters';
import { checkOfflineFiles, dropBrokenCacheEntries, modelFilePath } from './modelCache';
import { towerDtypes, towerFile } from './modelFiles';
import { describeLoadError } from './modelLoadError';
import { DownloadProgress, ModelLocation, ModelSourceOptions, locateModel } from './modelLocation';
import { configureTransformers, pretrainedOptions } from './transformersSource';
import { PreparedVisionGraph, prepareVisionGraph } from './onnx/visionGraph';
import type { VisionWeights } from './onnx/visionBlock';
import { directNormaliser } from './directNormaliser';
import { defaultThreads } from './threads';
import { createVisionSession, loadVisionSession, toFloat32 } from './visionSession';
import { MAX_QUERY_CHARS, TextEmbedding, TextTower, validateQuery } from './text';
import { TransformersModule, loadTransformers } from './transformers';
import * as fs from 'node:fs';

import { DEFAULT_GEOMETRY, GEOMETRIES, Geometry, PRE_EMBED_LIMIT } from './defaults';

export interface EngineOptions extends ModelSourceOptions {
  /** Block index; negative counts from the end. Default: layers − 2, as the reference. */
  layer?: number;
  /** ONNX Runtime intra-op threads; default: the cores available. */
  threads?: number;
  /** Also expose block L's attention output (tests). */
  exposeAttentionOutput?: boolean;
  /**
   * The questions (or hints) the caller will ask. Those without a stored embedding (up to
   * PRE_EMBED_LIMIT of them) are embedded before the vision session is created, and the text
   * model is released before the vision session loads: the two towers are never resident
   * together, and the first heatmap finds its embedding in memory.
   */
  expectQuestions?: string[];
  /** How long the text model stays loaded with no new text (default TEXT_IDLE_RELEASE_MS; Infinity: kept). */
  textIdleReleaseMs?: number;
  /** Stops the load's downloads (nothing partial kept); the load then fails with code `cancelled`. */
  signal?: AbortSignal;
  /**
   * Whether ONNX Runtime's threads spin between operators (its default). Spinning saves a
   * wake-up per operator for a lone forward, but burns the cores that work overlapping the
   * forward (the batch runner's rendering and encoding) needs.
   */
  spinWait?: boolean;
}

export interface AttributionRequest {
  question: string;
  /** When given, the map is computed from this text instead of the question. */
  hint?: string;
  /** Block index for this request (negative counts from the end); default: the engine's layer. */
  layer?: number;
  geometry?: Geometry;
  mask?: Partial<MaskParameters>;
  signal?: AbortSignal;
}

export interface StageTimings {
  [stage: string]: number;
}

export interface Attribution {
  grid: [number, number];
  /** Raw closed-form scores (before any normalisation), kept so the mask can be re-made cheaply. */
  psiCls: Float64Array;
  psiTok: Float64Array;
  clsMap: Float64Array;
  patchMap: Float64Array;
  mask: Float64Array;
  degenerate: boolean;
  model: string;
  layer: number;
  text: TextEmbedding;
  geometry: Geometry;
  maskParameters: MaskParameters;
  timings: StageTimings;
  /** Present when the engine exposes it: block L's attention output [T, D] at batch 0. */
  block?: BlockTensors & { attentionOutput?: Float32Array };
}

export class AttentionPromptEngine {
  private constructor(
    readonly location: ModelLocation,
    private readonly t: TransformersModule,
    private session: Ort.InferenceSession | undefined,
    private current: PreparedVisionGraph,
    private readonly vision: { sourcePath: string; threads: number; exposeAttentionOutput?: boolean; spinWait?: boolean },
    private readonly text: TextTower,
    private readonly processor: (img: InstanceType<TransformersModule['RawImage']>) => Promise<{ pixel_values: { data: Float32Array; dims: number[] } }>,
    processorSettings: unknown,
    readonly imageSize: number,
    readonly patchSize: number,
    readonly loadTimings: StageTimings,
  ) {
    this.defaultLayer = current.layer;
    this.normalise = directNormaliser(processorSettings, imageSize);
  }
  /** The resized RGB bytes straight to CLIP's input tensor, when the processor would only rescale and normalise. */
  private readonly normalise: ((rgb: Buffer) => Float32Array) | undefined;

  get modelName(): string {
    return this.location.name;
  }
  /** The prepared graph of the layer the session holds now. */
  get graph(): PreparedVisionGraph {
    return this.current;
  }
  /** The engine's default layer (from the load options; layers − 2 unless given). */
  get layer(): number {
    return this.defaultLayer;
  }
  private readonly defaultLayer: number;
  /** Vision runs and layer switches, one at a time (a switch must not release a session in use). */
  private visionQueue: Promise<unknown> = Promise.resolve();

  /** The block index a request's layer stands for (negative counts from the end; undefined: the default). */
  resolveLayer(requested?: number): number {
    if (requested === undefined) return this.defaultLayer;
    const n = this.current.numLayers;
    const layer = requested < 0 ? n + requested : requested;
    if (!Number.isInteger(layer) || layer < 0 || layer >= n) {
      throw new AttentionPromptError('bad-parameter', `Layer ${requested} is out of range: "${this.modelName}" has ${n} layers (0–${n - 1}; the default is ${n - 2}).`);
    }
    return layer;
  }

  /**
   * Makes the session serve `layer`: one session at a time, so a layer change releases the
   * previous layer's session before creating the next (its pruned graph is cached on disk, so
   * going back costs a session creation, not a preparation). The text tower, tokenizer and
   * processor stay loaded. Call inside the vision queue.
   */
  private async useLayer(layer: number): Promise<void> {
    if (this.session && this.current.layer === layer) return;
    const previous = this.session;
    this.session = undefined;
    await previous?.release();
    const graph = await prepareVisionGraph({ sourcePath: this.vision.sourcePath, layer, cacheDir: this.location.cacheDir, modelName: this.location.name, exposeAttentionOutput: this.vision.exposeAttentionOutput });
    this.session = await createVisionSession(graph, this.vision.threads, this.vision.spinWait);
    this.current = graph;
  }
  get numLayers(): number {
    return this.graph.numLayers;
  }
  get gridSize(): number {
    return this.imageSize / this.patchSize;
  }

  static async load(opts: EngineOptions): Promise<AttentionPromptEngine> {
    const timings: StageTimings = {};
    const tick = (stage: string, since: number) => (timings[stage] = performance.now() - since);
    const loc = locateModel(opts);
    dropBrokenCacheEntries(loc);
    checkOfflineFiles(loc);
    const t = await loadTransformers();
    const threads = opts.threads ?? defaultThreads();
    configureTransformers(t, loc);
    const common = pretrainedOptions(loc, opts.onProgress);

    let start = performance.now();
    let config: { vision_config?: { image_size?: number; patch_size?: number } };
    let processor: Awaited<ReturnType<TransformersModule['AutoProcessor']['from_pretrained']>>;
    try {
      config = (await t.AutoConfig.from_pretrained(loc.pretrainedId, common)) as unknown as typeof config;
      processor = await t.AutoProcessor.from_pretrained(loc.pretrainedId, common);
    } catch (e) {
      throw describeLoadError(loc, e);
    }
    checkConfigNumbers(config, CLIP_CONFIG_FIELDS, loc.local ? path.join(loc.pretrainedId, 'config.json') : `config.json of ${loc.name}`);
    // The text tower loads on the first question it has not seen (see TextTower); a hub model
    // whose text files are not cached yet downloads them now, so a run that starts online can
    // continue offline.
    const textFile = towerFile('text', towerDtypes(loc).text);
    const text = new TextTower(t, loc, modelFilePath(loc, textFile), loc.cacheDir, { onProgress: opts.onProgress, signal: opts.signal, threads, idleReleaseMs: opts.textIdleReleaseMs });
    if (!loc.local && !fs.existsSync(modelFilePath(loc, textFile))) {
      const textStart = performance.now();
      await text.warm().catch((e) => {
        throw describeLoadError(loc, e);
      });
      tick('download text model', textStart);
    }
    const unknown = [...new Set((opts.expectQuestions ?? []).map((q) => q.trim()).filter((q) => q && q.length <= MAX_QUERY_CHARS && !text.known(q)))];
    if (unknown.length > 0 && unknown.length <= PRE_EMBED_LIMIT) {
      start = performance.now();
      try {
        for (const q of unknown) await text.embed(q);
      } catch (e) {
        await text.dispose();
        throw describeLoadError(loc, e);
      }
      await text.release();
      tick('embed questions (text tower loaded and released)', start);
    }

    let session: Ort.InferenceSession | undefined;
    let graph: PreparedVisionGraph;
    try {
      ({ graph, session } = await loadVisionSession(loc, { layer: opts.layer, threads, exposeAttentionOutput: opts.exposeAttentionOutput, spinWait: opts.spinWait, onProgress: opts.onProgress, signal: opts.signal }, tick));
    } catch (e) {
      await text.dispose();
      throw e;
    }

    const imageSize = config.vision_config?.image_size ?? 224;
    const patchSize = config.vision_config?.patch_size ?? 32;
    const imageProcessor = (processor as unknown as { image_processor?: unknown }).image_processor ?? processor;
    const run = imageProcessor as (img: unknown) => Promise<{ pixel_values: { data: Float32Array; dims: number[] } }>;
    const vision = { sourcePath: graph.sourcePath, threads, exposeAttentionOutput: opts.exposeAttentionOutput, spinWait: opts.spinWait };
    return new AttentionPromptEngine(loc, t, session, graph, vision, text, run, imageProcessor, imageSize, patchSize, timings);
  }

  /**
   * CLIP's input for an image.
   * - `full` (default): the whole image resized to the model's square input. Every pixel lies in
   *   exactly one grid cell, and the mask stretched back over the image is aligned everywhere.
   *   No padding tokens (CLIP ViTs put high-norm outlier tokens in flat regions, which would
   *   dominate the min–max normalisations) and one forward pass (tiling would cost several).
   *   The price is an aspect distortion that CLIP tolerates for ordinary photos.
   * - `reference`: as the paper's code: shortest side to the input size, centre crop; the mask
   *   computed on the crop is later stretched over the whole image (misaligned unless square).
   * The resize is PIL's BICUBIC, byte for byte (modelInput.ts, resample.ts), as the reference's
   * open_clip transform; Transformers.js's CLIP processor then rescales and normalises with the
   * model's preprocessor_config.json.
   */
  async pixelValues(img: DecodedImage, geometry: Geometry): Promise<Float32Array> {
    const s = this.imageSize;
    const data = (await clipInput(img, s, geometry)).rgb;
    if (this.normalise) return this.normalise(data);
    const raw = new this.t.RawImage(new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), s, s, 3);
    const out = await this.processor(raw);
    if (out.pixel_values.dims.join() !== `1,3,${s},${s}`) {
      throw new Error(`the image processor produced [${out.pixel_values.dims}], expected [1,3,${s},${s}]`);
    }
    return out.pixel_values.data;
  }

  async embedText(text: string): Promise<TextEmbedding> {
    return this.text.embed(text);
  }

  /** Starts loading the text tower in the background (a warm engine answers new questions sooner). */
  warmText(): void {
    this.text.warm().catch(() => undefined);
  }

  get textTowerLoaded(): boolean {
    return this.text.loaded;
  }

  /** Runs the pruned vision graph of block `layer` (default: the engine's) and returns its tensors for batch element 0. */
  async blockTensors(pixels: Float32Array, layer?: number): Promise<BlockTensors & { attentionOutput?: Float32Array; layer: number; weights: VisionWeights }> {
    const ort = await import('onnxruntime-node');
    const s = this.imageSize;
    const resolved = this.resolveLayer(layer);
    const input = new ort.Tensor('float32', pixels, [1, 3, s, s]);
    const task = this.visionQueue.then(async () => {
      await this.useLayer(resolved);
      const graph = this.current;
      const session = this.session!;
      return { graph, out: await session.run({ [session.inputNames[0]]: input }) };
    });
    this.visionQueue = task.catch(() => undefined);
    const { graph, out } = await task;
    const names = graph.outputs;
    const get = (name: string) => {
      const t = out[name];
      if (!t) throw new Error(`the vision graph did not return ${name}`);
      return t;
    };
    const a = get(names.attention);
    const v = get(names.values);
    const x = get(names.blockOutput);
    return {
      attention: toFloat32(a),
      attentionDims: a.dims,
      values: toFloat32(v),
      valuesDims: v.dims,
      blockOutput: toFloat32(x),
      blockOutputDims: x.dims,
      attentionOutput: names.attentionOutput ? toFloat32(get(names.attentionOutput)) : undefined,
      layer: graph.layer,
      weights: graph.weights,
    };
  }

  /** The paper's maps and mask for one image and question. */
  async attribute(img: DecodedImage, req: AttributionRequest): Promise<Attribution> {
    const timings: StageTimings = {};
    const question = validateQuery(req.question);
    const mapText = req.hint !== undefined && req.hint.trim() !== '' ? validateQuery(req.hint, 'hint') : question;
    const geometry = req.geometry ?? DEFAULT_GEOMETRY;
    if (!GEOMETRIES.includes(geometry)) throw new AttentionPromptError('bad-parameter', `Unknown geometry "${geometry}": use ${GEOMETRIES.join(' or ')}.`);
    const maskParameters = { ...DEFAULT_MASK_PARAMETERS, ...req.mask };
    checkMaskParameters(maskParameters);

    let start = performance.now();
    this.text.loadMs = undefined;
    const text = await this.text.embed(mapText);
    timings.text = performance.now() - start;
    if (this.text.loadMs !== undefined) {
      // The first unseen question loaded the text tower: report the load apart from the embedding.
      timings['load text model'] = this.text.loadMs;
      timings.text -= this.text.loadMs;
    }
    throwIfAborted(req.signal);

    start = performance.now();
    const pixels = await this.pixelValues(img, geometry);
    timings.preprocess = performance.now() - start;
    throwIfAborted(req.signal);

    start = performance.now();
    const { layer, weights, ...block } = await this.blockTensors(pixels, req.layer);
    timings.vision = performance.now() - start;
    throwIfAborted(req.signal);

    start = performance.now();
    const scores: RawScores = rawScores(block, weights, text.embedding);
    const grid = Math.round(Math.sqrt(scores.tokens - 1));
    if (grid * grid !== scores.tokens - 1) throw new Error(`${scores.tokens - 1} patch tokens do not form a square grid`);
    const merged = mergeMaps(scores.psiCls, scores.psiTok, grid, grid, maskParameters);
    timings.maps = performance.now() - start;

    return {
      grid: [grid, grid],
      psiCls: scores.psiCls,
      psiTok: scores.psiTok,
      ...merged,
      model: this.modelName,
      layer,
      text,
      geometry,
      maskParameters,
      timings,
      block: block.attentionOutput ? block : undefined,
    };
  }

  async dispose(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await this.visionQueue;
    await session?.release();
    await this.text.dispose();
  }
}

export type { DownloadProgress };
