/**
 * The batch runner: masks (and optionally asks a VLM about) every item of a folder, glob, list
 * or JSONL file, with one CLIP session, decoding of the next image overlapping inference, text
 * embeddings cached per distinct query, VLM requests concurrent up to a bound, and memory that
 * does not grow with the dataset (items stream in; only the current and the next image are held).
 * Every finished item is one line of results.jsonl; a resumed run skips the ids already answered.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { AUX_MODELS, BATCH_SPIN_WAIT, IMAGE_EXTENSIONS, PRE_EMBED_LIMIT, type AuxModel, type Geometry, type ImageFormat, type Interpolation, type VlmRunSettings } from '../defaults';
import { Attribution, AttentionPromptEngine, AttributionRequest, EngineOptions, StageTimings } from '../engine';
import { AttentionPromptError, untilAborted } from '../errors';
import { DecodedImage, ImageLimits, PixelBudget, alphaForGeometry, decodeImage, fromDecoded, processPixelBudget } from '../image';
import { mergeMaps } from '../maps';
import { type MaskParameters, checkMaskParameters } from '../maskParameters';
import { materialize, renderOutputs } from '../render';
import type { AnswerImage, AnswerProvider, AnswerResult } from '../answerProvider';
import { redactSecrets } from '../redact';
import { VlmClient } from '../vlm';
import { LocalVlm } from '../lvlm/localVlm';
import { LvlmMaps } from '../lvlm/lvlmMaps';
import { imagePayload } from '../vlmImage';
import { ComparisonBuilder } from './comparison';
import { BatchItem, isInside, readItems, safeId } from './inputs';
import { GradeAsker } from './judge';
import { OutputLock } from './outputLock';
import { ScoreSummary, scoreRecord, scoreSummary, writeComparison } from './rescore';
import { ResultRecord, ResultsLog, readResults } from './results';
import { PARTIAL_LINES_FILE } from './resultLines';
import { RunSettings, checkResumeSettings, writeRunSettings } from './runSettings';
import { AnswerScore, Metric } from './scoring';
import { Shard, inShard, shardLabel } from './shards';
import { BatchMap, MapSource, loadMapSource, withMask } from './mapSource';
import { SweepAxes, SweepSetting, byLayer, checkSweepValues, resultKey, sweepSettings } from './sweep';

/** How each item is asked about, whichever provider answers. */
export interface BatchAskOptions {
  compareWithOriginal: boolean;
  maxImageSide: number;
  imageFormat?: ImageFormat;
}

/** An OpenAI-compatible endpoint (the CLI's and the extension's default). */
export type BatchVlmOptions = VlmRunSettings;


export interface BatchOptions {
  input: string;
  question?: string;
  /** Hint text for items that have none. */
  hint?: string;
  outDir: string;
  engine: EngineOptions;
  /** clip (default), or lvlm: the map read from the local LLaVA-style model `engine.model` while it answers (hints unused). */
  aux?: AuxModel;
  /** With aux lvlm: the local model already held (e.g. the one that answers), used for the maps instead of a second copy. */
  lvlm?: LocalVlm;
  geometry: Geometry;
  mask: MaskParameters;
  interpolation: Interpolation;
  gray: number;
  opacity: number;
  /** Undefined: no VLM (--no-vlm). */
  vlm?: BatchVlmOptions;
  /**
   * Who answers (a VS Code model, a local VLM); default: the OpenAI-compatible endpoint in `vlm`.
   * `vlm` still says how images are prepared and whether the original is asked too.
   */
  answers?: AnswerProvider;
  concurrency: number;
  resume: boolean;
  /** Resume even though the settings differ from the ones recorded in the folder. */
  allowChangedSettings?: boolean;
  /** Let a JSONL file or list name images outside its folder (see InputOptions). */
  allowOutsidePaths?: boolean;
  /** Also write the reference repository's folder layout. */
  referenceLayout?: { dataset: string };
  /** Decoded pixels held at once (default: the process's budget, shared with every other run). */
  pixelBudget?: PixelBudget;
  /** Only the items of this shard (shards.ts: by a hash of the id). */
  shard?: Shard;
  /** Every combination of these values, each item answered under each (sweep.ts). */
  sweep?: SweepAxes;
  /** Grade open answers with the run's VLM by the MM-Vet protocol (judge.ts). */
  judge?: boolean;
  /** Which score decides "right" in summary.json (default exact). */
  metric?: Metric;
  thumbSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: BatchProgress) => void;
  onLog?: (message: string) => void;
}

export interface BatchProgress {
  total: number;
  done: number;
  failed: number;
  skipped: number;
  /** Items per second over this run so far. */
  rate: number;
  current?: string;
}

export interface BatchSummary {
  input: string;
  outDir: string;
  total: number;
  done: number;
  failed: number;
  skipped: number;
  interrupted: boolean;
  elapsedMs: number;
  /** Of `elapsedMs`, the time spent loading models. */
  loadMs: number;
  /** Items finished per second of processing (elapsed time less model loads). */
  imagesPerSecond: number;
  model: string;
  layer: number;
  parameters: ResultRecord['parameters'];
  endpointHost?: string;
  vlmModel?: string;
  startedAt: string;
  finishedAt: string;
  shard?: string;
  /** The swept axes; each setting's comparison is in `sweep` (ScoreSummary). */
  sweepAxes?: SweepAxes;
}

/** A counting semaphore for VLM requests. */
class Slots {
  private waiting: Array<() => void> = [];
  constructor(private free: number) {}
  async acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new AttentionPromptError('cancelled', 'Cancelled.');
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      // Given up while waiting: leave the queue, so the slot goes to the next waiter.
      const onAbort = () => {
        this.waiting = this.waiting.filter((w) => w !== grant);
        reject(new AttentionPromptError('cancelled', 'Cancelled.'));
      };
      this.waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

const PIL_NAMES: Record<Interpolation, string> = { lanczos3: 'LANCZOS', cubic: 'BICUBIC', linear: 'BILINEAR', nearest: 'NEAREST' };

/** The reference repository's output folder (main.py:159, 172). */
export function referenceFolder(outDir: string, dataset: string, model: string, layer: number, p: { contrast: number; kernel: number; interpolation: Interpolation; gray: number }): string {
  // The dataset name and model become one folder name each: no separators, no leading dots.
  const folder = path.join(outDir, `APICLIP_${safeId(dataset)}_${safeId(path.basename(model))}_${layer}`, `${p.contrast}_${p.kernel}_${PIL_NAMES[p.interpolation]}_${p.gray}`);
  if (!isInside(path.resolve(outDir), path.resolve(folder))) throw new AttentionPromptError('bad-parameter', `The reference layout folder ${folder} would lie outside ${outDir}.`);
  return folder;
}

/** The run's items: the input's, or the shard's share of them. */
async function* runItems(opts: BatchOptions): AsyncGenerator<BatchItem> {
  for await (const item of readItems(opts.input, inputOptions(opts))) if (inShard(item.id, opts.shard)) yield item;
}

/**
 * Reads every item once (validating each line, question and path) and counts them; none is an
 * error. Also gathers the distinct texts the maps are made from (a hint, else the question), up
 * to one past PRE_EMBED_LIMIT: the engine embeds them before its vision session loads.
 */
async function countItems(opts: BatchOptions): Promise<{ count: number; mapTexts: string[] }> {
  let count = 0;
  const mapTexts = new Set<string>();
  for await (const item of runItems(opts)) {
    count++;
    if (mapTexts.size <= PRE_EMBED_LIMIT) mapTexts.add((item.hint?.trim() ? item.hint : item.question).trim());
  }
  if (count === 0) throw new AttentionPromptError('bad-parameter', `Nothing to do: ${opts.input} holds no images (looked for .${IMAGE_EXTENSIONS.join(' .')}).`);
  return { count, mapTexts: [...mapTexts] };
}

const inputOptions = (opts: BatchOptions) => ({ question: opts.question, allowOutsidePaths: opts.allowOutsidePaths });

/** An item with its image decoded, or the reason it could not be. */
type Decoded = { item: BatchItem; image?: DecodedImage; error?: Error; decodeMs: number };

/** Decodes the items not yet answered, in input order; a skipped id is only counted. */
async function* decodeUnanswered(items: AsyncIterable<BatchItem>, answered: (id: string) => boolean, onSkip: (id: string) => void, limits: ImageLimits): AsyncGenerator<Decoded> {
  for await (const item of items) {
    if (answered(item.id)) {
      onSkip(item.id);
      continue;
    }
    const start = performance.now();
    try {
      yield { item, image: await decodeImage(item.image, limits), decodeMs: performance.now() - start };
    } catch (e) {
      yield { item, error: e as Error, decodeMs: performance.now() - start };
    }
  }
}

/** Keeps the next value of `source` in preparation while the caller works on the current one. */
async function* oneAhead<T>(source: AsyncIterator<T>, discard?: (value: T) => void): AsyncGenerator<T> {
  let pending = source.next();
  try {
    for (;;) {
      const r = await pending;
      if (r.done) return;
      pending = source.next();
      yield r.value;
    }
  } finally {
    // Stopped early (Ctrl-C): the prepared value is discarded (its failure has nobody to report
    // to) and the source is closed once it settles.
    void pending.then(
      (r) => {
        if (!r.done) discard?.(r.value);
        return source.return?.(undefined);
      },
      () => undefined,
    );
  }
}

/** The counts of a run, its progress callback and the results file every item ends in. */
class Tally {
  done = 0;
  failed = 0;
  skipped = 0;
  /** Items finished by this run (done or failed), for the rate. */
  processed = 0;
  /** Time spent loading models (one per swept layer): not part of the rate. */
  loadMs = 0;
  private readonly started = performance.now();

  constructor(readonly total: number, private readonly results: ResultsLog, private readonly onProgress?: (p: BatchProgress) => void) {}

  /** Loads a model without counting the wait in the rate (loading is a one-off the engine times itself). */
  async loading<T>(load: () => Promise<T>): Promise<T> {
    const before = performance.now();
    try {
      return await load();
    } finally {
      this.loadMs += performance.now() - before;
    }
  }

  /** Items per second of processing up to `now`: the run's time less its model loads. */
  rate(now = performance.now()): number {
    return this.processed / Math.max((now - this.started - this.loadMs) / 1000, 1e-3);
  }

  progress(current?: string): void {
    this.onProgress?.({ total: this.total, done: this.done, failed: this.failed, skipped: this.skipped, rate: this.rate(), current });
  }

  skip(id: string): void {
    this.skipped++;
    this.progress(id);
  }

  /** Appends the item's one line; after this the item counts as finished. */
  record(rec: ResultRecord): void {
    this.results.append(rec);
    this.processed++;
    if (rec.error) this.failed++;
    else this.done++;
    this.progress(rec.id);
  }
}

/** What every item of a run shares. */
interface RunContext {
  opts: BatchOptions;
  engine: MapSource;
  /** The block index every item of this run uses. */
  layer: number;
  answers?: AnswerProvider;
  ask?: BatchAskOptions;
  slots: Slots;
  parameters: ResultRecord['parameters'];
  /** The reference layout's folder, when asked for. */
  refDir?: string;
  thumbSize: number;
  tally: Tally;
  /** Ids (sweep.ts resultKeys) that already have a successful line (--resume): skipped. */
  answered: Set<string>;
  /** In a sweep: this context's setting, and the original image's answer shared by all settings of an item. */
  setting?: SweepSetting;
  originals?: Map<string, Promise<AnswerResult>>;
  /** Grades open answers (--judge), holding a VLM slot per request. */
  judge?: GradeAsker;
  /** Grades made in this run (rescore.ts), shared by the settings of a sweep. */
  gradeCache?: Map<string, Promise<NonNullable<AnswerScore['judge']>>>;
}

type ItemRecord = Omit<ResultRecord, 'finishedAt'>;

function baseRecord(ctx: RunContext, item: BatchItem, timings: Record<string, number>): ItemRecord {
  return {
    id: item.id,
    setting: ctx.setting?.key,
    image: item.image,
    question: item.question,
    hint: item.hint,
    answer: item.answer,
    choices: item.choices,
    category: item.category,
    parameters: ctx.parameters,
    model: ctx.engine.modelName,
    layer: ctx.layer,
    endpointHost: ctx.answers?.label.where,
    vlmModel: ctx.answers?.label.model,
    timings,
  };
}

function failure(stage: string, e: unknown): ResultRecord['error'] {
  return { stage, message: redactSecrets((e as Error).message) };
}

/** Renders the masked image, overlay and thumbnails (and the reference layout's copy) and writes them. */
async function writeOutputs(ctx: RunContext, item: BatchItem, image: DecodedImage, attribution: BatchMap): Promise<{ outputs: NonNullable<ResultRecord['outputs']>; maskedPng: sharp.Sharp }> {
  const { opts, refDir, thumbSize } = ctx;
  const rendered = await renderOutputs(image, attribution.mask, attribution.grid, { interpolation: opts.interpolation, gray: opts.gray, opacity: opts.opacity });
  const maskedPng = await materialize(rendered.masked);
  const photo = image.format === 'jpeg';
  // In a sweep each setting has its own files: "id@layer20_contrast3" (ids never contain "@").
  const stem = ctx.setting ? `${item.id}@${ctx.setting.slug}` : item.id;
  const maskedFile = path.join('masked', `${stem}.${photo ? 'jpg' : 'png'}`);
  const overlayFile = path.join('overlays', `${stem}.jpg`);
  const thumbs = { original: path.join('thumbs', `${item.id}.original.jpg`), overlay: path.join('thumbs', `${stem}.overlay.jpg`), masked: path.join('thumbs', `${stem}.masked.jpg`) };
  const small = (p: sharp.Sharp) => p.clone().resize(thumbSize, thumbSize, { fit: 'inside' }).jpeg({ quality: 70 });
  const overlay = await materialize(rendered.overlay());
  const at = (rel: string) => path.join(opts.outDir, rel);
  await Promise.all([
    (photo ? maskedPng.clone().jpeg({ quality: 92 }) : maskedPng.clone().png({ compressionLevel: 3 })).toFile(at(maskedFile)),
    overlay.clone().jpeg({ quality: 85 }).toFile(at(overlayFile)),
    small(fromDecoded(image)).toFile(at(thumbs.original)),
    small(overlay).toFile(at(thumbs.overlay)),
    small(maskedPng).toFile(at(thumbs.masked)),
    // The reference saves PIL's default JPEG (quality 75) named by key (main.py:140-141).
    refDir ? maskedPng.clone().jpeg({ quality: 75 }).toFile(path.join(refDir, `${item.id}.jpg`)) : Promise.resolve(),
  ]);
  const reference = refDir ? path.relative(opts.outDir, path.join(refDir, `${item.id}.jpg`)) : undefined;
  return { outputs: { masked: maskedFile, overlay: overlayFile, thumbs, reference }, maskedPng };
}

/**
 * Asks the provider about the masked image (and the original, when comparing), each request
 * holding one of the run's slots. Undefined when the run was interrupted: nothing is recorded,
 * so the item is redone on --resume.
 */
async function askAbout(ctx: RunContext, answers: AnswerProvider, ask: BatchAskOptions, item: BatchItem, image: DecodedImage, maskedPng: sharp.Sharp, rec: ItemRecord): Promise<ItemRecord | undefined> {
  const signal = ctx.opts.signal;
  let masked: AnswerImage;
  let original: AnswerImage | undefined;
  try {
    masked = await imagePayload(maskedPng, { maxSide: ask.maxImageSide, format: ask.imageFormat, sourceFormat: image.format });
    original = ask.compareWithOriginal ? await imagePayload(fromDecoded(image), { maxSide: ask.maxImageSide, format: ask.imageFormat, sourceFormat: image.format }) : undefined;
  } catch (e) {
    return { ...rec, error: failure('payload', e) };
  }
  const one = (payload: AnswerImage, timing: string): Promise<AnswerResult> => {
    // The original image is the same under every sweep setting: asked once per item.
    if (timing === 'vlmOriginal' && ctx.originals) {
      const known = ctx.originals.get(item.id);
      if (known) return known;
      const shared = askNow(payload, timing);
      ctx.originals.set(item.id, shared);
      // A failure is not reused: the next setting (or --resume) asks again.
      shared.catch(() => ctx.originals?.delete(item.id));
      return shared;
    }
    return askNow(payload, timing);
  };
  const askNow = async (payload: AnswerImage, timing: string): Promise<AnswerResult> => {
    await ctx.slots.acquire(signal);
    const start = performance.now();
    try {
      return await untilAborted(answers.answer({ question: item.question, image: payload, signal }), signal);
    } finally {
      rec.timings[timing] = performance.now() - start;
      ctx.slots.release();
    }
  };
  const [m, o] = await Promise.allSettled([one(masked, 'vlmMasked'), original ? one(original, 'vlmOriginal') : Promise.resolve(undefined)]);
  if (signal?.aborted) return undefined;
  const error = m.status === 'rejected' ? failure('vlm-masked', m.reason) : o.status === 'rejected' ? failure('vlm-original', o.reason) : undefined;
  const mv = m.status === 'fulfilled' ? m.value : undefined;
  const ov = o.status === 'fulfilled' ? o.value : undefined;
  const incomplete = mv?.incomplete || ov?.incomplete ? { masked: mv?.incompleteReason, original: ov?.incompleteReason } : undefined;
  return { ...rec, maskedAnswer: mv?.text, originalAnswer: ov?.text, ...(incomplete ? { incomplete } : {}), error };
}

/** Everything after CLIP for one item: outputs, answers, its line in results.jsonl. */
async function completeItem(ctx: RunContext, item: BatchItem, image: DecodedImage, attribution: BatchMap, timings: Record<string, number>): Promise<void> {
  const finish = (rec: ItemRecord) => ctx.tally.record({ ...rec, finishedAt: new Date().toISOString() });
  const start = performance.now();
  let written: Awaited<ReturnType<typeof writeOutputs>>;
  try {
    written = await writeOutputs(ctx, item, image, attribution);
    timings.render = performance.now() - start;
  } catch (e) {
    finish({ ...baseRecord(ctx, item, timings), error: failure('render', e) });
    return;
  }
  const rec: ItemRecord = { ...baseRecord(ctx, item, timings), outputs: written.outputs };
  if (!ctx.answers || !ctx.ask) {
    finish(rec);
    return;
  }
  const answered = await askAbout(ctx, ctx.answers, ctx.ask, item, image, written.maskedPng, rec);
  if (!answered) return;
  try {
    await scoreRecord(answered as ResultRecord, { judge: ctx.judge, gradeCache: ctx.gradeCache, signal: ctx.opts.signal });
  } catch (e) {
    if (ctx.opts.signal?.aborted) return;
    answered.error = failure('judge', e);
  }
  finish(answered);
}

/** A sweep setting's context: its mask parameters, its reference-layout folder. */
function settingContext(ctx: RunContext, setting: SweepSetting): RunContext {
  const { opts, engine } = ctx;
  const refDir = opts.referenceLayout ? referenceFolder(opts.outDir, opts.referenceLayout.dataset, engine.modelName, ctx.layer, { ...setting.mask, interpolation: opts.interpolation, gray: opts.gray }) : undefined;
  if (refDir) fs.mkdirSync(refDir, { recursive: true });
  return { ...ctx, setting, refDir, parameters: { ...ctx.parameters, ...setting.mask } };
}

/**
 * The main loop: CLIP runs one item at a time while the next image decodes and earlier items
 * render, write and wait on the VLM in the background — never more than --concurrency of them.
 * In a sweep, `settings` are those of one layer: one CLIP pass per item, one mask per setting.
 */
async function processItems(ctx: RunContext, settings?: SweepSetting[]): Promise<void> {
  const { opts, engine, tally } = ctx;
  const contexts = settings ? settings.map((s) => settingContext(ctx, s)) : [ctx];
  const pending = (id: string) => contexts.filter((c) => !ctx.answered.has(resultKey(id, c.setting?.key)));
  // Decoded pixels count against the process's budget until the item's last task ends.
  const limits: ImageLimits = { alpha: alphaForGeometry(opts.geometry), budget: opts.pixelBudget ?? processPixelBudget, signal: opts.signal };
  const decoded = oneAhead(
    decodeUnanswered(runItems(opts), (id) => pending(id).length === 0, (id) => contexts.forEach(() => tally.skip(id)), limits),
    (d) => d.image?.release(),
  );
  const inFlight = new Set<Promise<void>>();
  for await (const current of decoded) {
    if (opts.signal?.aborted) {
      current.image?.release();
      break;
    }
    const { item } = current;
    if (!item.hint && opts.hint) item.hint = opts.hint;
    const todo = pending(item.id);
    for (let i = todo.length; i < contexts.length; i++) tally.skip(item.id);
    const timings: Record<string, number> = { decode: current.decodeMs };
    const failAll = (stage: string, e: unknown) => {
      for (const c of todo) tally.record({ ...baseRecord(c, item, { ...timings }), error: failure(stage, e), finishedAt: new Date().toISOString() });
    };
    if (!current.image) {
      failAll('decode', current.error);
      continue;
    }
    const image = current.image;
    let attribution: BatchMap;
    try {
      attribution = await engine.attribute(image, { question: item.question, hint: item.hint, layer: ctx.layer, geometry: opts.geometry, mask: todo[0].setting?.mask ?? opts.mask });
      Object.assign(timings, attribution.timings);
    } catch (e) {
      image.release();
      failAll('heatmap', e);
      continue;
    }
    const tasks: Array<Promise<void>> = [];
    for (const c of todo) {
      if (opts.signal?.aborted) break;
      const task = completeItem(c, item, image, c.setting ? withMask(attribution, c.setting.mask) : attribution, { ...timings });
      tasks.push(task);
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      while (inFlight.size >= opts.concurrency) await Promise.race(inFlight);
    }
    void Promise.allSettled(tasks).then(() => image.release());
  }
  await Promise.all(inFlight);
}

/** Refuses options no run could use, before anything is read or loaded. */
function checkRunOptions(opts: BatchOptions): void {
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new AttentionPromptError('bad-parameter', `--concurrency must be a positive integer, got ${opts.concurrency}.`);
  checkMaskParameters({ ...opts.mask, gray: opts.gray, interpolation: opts.interpolation });
  if (opts.sweep) checkSweepValues(opts.sweep);
  if (opts.aux !== undefined && !AUX_MODELS.includes(opts.aux)) throw new AttentionPromptError('bad-parameter', `--aux must be clip or lvlm, got "${opts.aux}".`);
  // One local model holds one prepared decoder layer: a layer sweep would load the model once per layer.
  if (opts.aux === 'lvlm' && opts.sweep?.layer) throw new AttentionPromptError('bad-parameter', '--sweep layer=… applies to --aux clip only; with --aux lvlm run once per --layer (contrast and kernel sweeps work).');
}

/** Creates the output folder and its subfolders, or says in one line why it cannot. */
function prepareOutputFolder(outDir: string): void {
  try {
    for (const dir of ['masked', 'overlays', 'thumbs']) fs.mkdirSync(path.join(outDir, dir), { recursive: true });
    fs.accessSync(outDir, fs.constants.W_OK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EEXIST' || err.code === 'ENOTDIR' ? 'a file is in the way' : err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS' ? 'permission denied' : err.message;
    throw new AttentionPromptError('bad-parameter', `Cannot use ${outDir} as the output folder: ${why} (${err.code ?? 'error'}).`);
  }
}

/** Opens results.jsonl; on --resume, drops failed and partial lines and returns the ids to skip. */
async function openResults(opts: BatchOptions, log: (m: string) => void): Promise<{ results: ResultsLog; answered: Set<string> }> {
  const { log: results, done, dropped } = await ResultsLog.open(opts.outDir, opts.resume).catch((e: Error & { code?: string }) => {
    if (e instanceof AttentionPromptError) throw e; // a bad line, named by the reader
    throw new AttentionPromptError(e.code === 'output-exists' ? 'output-exists' : 'internal', e.message);
  });
  if (dropped) log(`resume: dropped ${dropped} failed or partial line(s) (a partial last line is kept in ${PARTIAL_LINES_FILE}); those items are redone`);
  return { results, answered: done };
}

/** Who answers: the given provider, else the OpenAI-compatible endpoint of `vlm`; none with --no-vlm. */
function answerProvider(opts: BatchOptions): AnswerProvider | undefined {
  return opts.vlm ? (opts.answers ?? new VlmClient(opts.vlm)) : undefined;
}

/** What the run's answers depend on; `layer` is the requested one until the model has loaded. */
function requestedSettings(opts: BatchOptions, answers: AnswerProvider | undefined): RunSettings {
  const vlm = opts.vlm;
  const endpoint = opts.answers ? undefined : vlm;
  return {
    input: path.resolve(opts.input),
    question: opts.question ?? null,
    hint: opts.hint ?? null,
    model: opts.engine.model,
    // Recorded only for lvlm, so folders written before --aux existed still resume.
    ...(opts.aux === 'lvlm' ? { aux: 'lvlm' } : {}),
    revision: opts.engine.revision ?? 'main',
    dtype: opts.engine.dtype ?? 'fp32',
    layer: opts.engine.layer ?? null,
    geometry: opts.geometry,
    contrast: opts.mask.contrast,
    kernel: opts.mask.kernel,
    interpolation: opts.interpolation,
    gray: opts.gray,
    opacity: opts.opacity,
    referenceDataset: opts.referenceLayout?.dataset ?? null,
    shard: opts.shard ? shardLabel(opts.shard) : null,
    sweep: opts.sweep ? JSON.stringify(opts.sweep) : null,
    judge: !!opts.judge,
    answers: answers ? answers.kind : null,
    vlmModel: answers?.label.model ?? null,
    vlmAt: answers?.label.where ?? null,
    compareWithOriginal: vlm?.compareWithOriginal ?? null,
    maxImageSide: vlm?.maxImageSide ?? null,
    // The local model honours the token limit too (its generation stops there); a VS Code model has no such option.
    maxTokens: (answers?.kind === 'local' ? vlm?.maxTokens : endpoint?.maxTokens) ?? null,
    temperature: endpoint?.temperature ?? null,
    systemPrompt: endpoint?.systemPrompt ?? null,
    imageDetail: endpoint?.imageDetail ?? null,
    imageFormat: vlm?.imageFormat ?? null,
  };
}

function runContext(opts: BatchOptions, engine: MapSource, answers: AnswerProvider | undefined, tally: Tally, answered: Set<string>, requestedLayer = opts.engine.layer): RunContext {
  const parameters = { contrast: opts.mask.contrast, kernel: opts.mask.kernel, gray: opts.gray, interpolation: opts.interpolation, geometry: opts.geometry };
  // The layer of this run (an engine shared with other callers serves every layer per request).
  const layer = engine.resolveLayer(requestedLayer);
  const refDir = opts.referenceLayout ? referenceFolder(opts.outDir, opts.referenceLayout.dataset, engine.modelName, layer, { ...opts.mask, interpolation: opts.interpolation, gray: opts.gray }) : undefined;
  if (refDir) fs.mkdirSync(refDir, { recursive: true });
  return {
    opts,
    engine,
    layer,
    answers,
    ask: opts.vlm ? { compareWithOriginal: opts.vlm.compareWithOriginal, maxImageSide: opts.vlm.maxImageSide, imageFormat: opts.vlm.imageFormat } : undefined,
    slots: new Slots(opts.concurrency),
    parameters,
    refDir,
    thumbSize: opts.thumbSize ?? 160,
    tally,
    answered,
  };
}

/** The judge (--judge): the run's own VLM, asked with text only, each request holding a slot. */
function judgeAsker(ctx: RunContext): GradeAsker | undefined {
  const answers = ctx.answers;
  if (!ctx.opts.judge || !answers) return undefined;
  return async (prompt, o) => {
    await ctx.slots.acquire(o.signal);
    try {
      const r = await untilAborted(answers.answer({ question: prompt, temperature: o.temperature, maxTokens: o.maxTokens, signal: o.signal }), o.signal);
      return { text: r.text, model: r.model };
    } finally {
      ctx.slots.release();
    }
  };
}

/** A resumed sweep's original-image answers, so they are not asked again. */
async function previousOriginals(outDir: string): Promise<Map<string, Promise<AnswerResult>>> {
  const originals = new Map<string, Promise<AnswerResult>>();
  for await (const r of readResults(path.join(outDir, 'results.jsonl'))) {
    const reason = r.incomplete?.original;
    const answer: AnswerResult = { text: r.originalAnswer ?? '', model: r.vlmModel ?? '', elapsedMs: 0, ...(reason ? { incomplete: true, incompleteReason: reason } : {}) };
    if (r.originalAnswer !== undefined && !originals.has(r.id)) originals.set(r.id, Promise.resolve(answer));
  }
  return originals;
}

/** The comparison of masked and original answers (or of every sweep setting), into summary.json. */
async function writeScores(outDir: string, metric: Metric, summary: BatchSummary): Promise<BatchSummary & ScoreSummary> {
  const builder = new ComparisonBuilder(metric);
  let judged = false;
  for await (const r of readResults(path.join(outDir, 'results.jsonl'))) {
    builder.add(r);
    if (r.scores?.masked?.judge || r.scores?.original?.judge) judged = true;
  }
  return writeComparison(outDir, scoreSummary(builder, judged), summary);
}

function writeSummary(ctx: RunContext, startedAt: Date, t0: number): BatchSummary {
  const { opts, engine, tally } = ctx;
  const end = performance.now();
  const summary: BatchSummary = {
    input: opts.input,
    outDir: opts.outDir,
    total: tally.total,
    done: tally.done,
    failed: tally.failed,
    skipped: tally.skipped,
    interrupted: !!opts.signal?.aborted,
    elapsedMs: end - t0,
    loadMs: tally.loadMs,
    imagesPerSecond: tally.rate(end),
    model: engine.modelName,
    layer: ctx.layer,
    parameters: ctx.parameters,
    endpointHost: ctx.answers?.label.where,
    vlmModel: ctx.answers?.label.model,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    shard: opts.shard ? shardLabel(opts.shard) : undefined,
    sweepAxes: opts.sweep,
  };
  fs.writeFileSync(path.join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}

/**
 * Runs a whole batch: check the options and the input, lock the output folder, check a resume's
 * settings, open the results, load the model, process every item, summarise. A sweep loads one
 * engine per swept layer in turn and runs every item through it.
 */
export async function runBatch(opts: BatchOptions, sharedEngine?: MapSource): Promise<BatchSummary & ScoreSummary> {
  const startedAt = new Date();
  const t0 = performance.now();
  checkRunOptions(opts);
  const answers = answerProvider(opts);
  const sweep = opts.sweep ? sweepSettings(opts.sweep, opts.mask) : undefined;
  prepareOutputFolder(opts.outDir);
  const lock = OutputLock.acquire(opts.outDir);
  try {
    // Validates the input (and every item's question and path) before any model loads.
    const { count, mapTexts } = await countItems(opts);
    const total = count * (sweep?.length ?? 1);
    const settings = requestedSettings(opts, answers);
    const allow = !!opts.allowChangedSettings;
    // The layer is compared once the model has resolved it (the default is "layers − 2").
    if (opts.resume) checkResumeSettings(opts.outDir, settings, allow, (k) => k !== 'layer');
    const { results, answered } = await openResults(opts, opts.onLog ?? (() => undefined));
    const tally = new Tally(total, results, opts.onProgress);
    let ctx: RunContext | undefined;
    try {
      const originals = sweep && opts.vlm?.compareWithOriginal ? await previousOriginals(opts.outDir) : undefined;
      const groups = sweep ? byLayer(sweep) : [{ layer: undefined, settings: undefined }];
      const gradeCache = opts.judge ? new Map<string, Promise<NonNullable<AnswerScore['judge']>>>() : undefined;
      for (const [i, group] of groups.entries()) {
        if (i > 0 && opts.signal?.aborted) break;
        const own = group.layer !== undefined || !sharedEngine;
        const engine = own ? await tally.loading(() => loadMapSource(opts, group.layer, mapTexts)) : sharedEngine!;
        try {
          if (i === 0) {
            // A swept layer is recorded in `sweep`; otherwise the layer the model resolved.
            if (group.layer === undefined) settings.layer = engine.resolveLayer(opts.engine.layer);
            if (opts.resume) checkResumeSettings(opts.outDir, settings, allow, (k) => k === 'layer');
            writeRunSettings(opts.outDir, settings);
          }
          const groupCtx: RunContext = { ...runContext(opts, engine, answers, tally, answered, group.layer ?? opts.engine.layer), originals, gradeCache };
          groupCtx.judge = judgeAsker(groupCtx);
          ctx = groupCtx;
          await processItems(groupCtx, group.settings);
        } finally {
          if (own) await engine.dispose();
        }
      }
    } finally {
      results.close();
    }
    const summary = writeSummary(ctx!, startedAt, t0);
    return await writeScores(opts.outDir, opts.metric ?? 'exact', summary);
  } finally {
    lock.release();
  }
}
