/**
 * The batch runner: masks (and optionally asks a VLM about) every item of a folder, glob, list
 * or JSONL file, with one CLIP session, decoding of the next image overlapping inference, text
 * embeddings cached per distinct query, VLM requests concurrent up to a bound, and memory that
 * does not grow with the dataset (items stream in; only the current and the next image are held).
 * Every finished item is one line of results.jsonl; a resumed run skips the ids already answered.
 *
 * This file orchestrates; each part is its own module: the options (batchOptions.ts), the items
 * (itemStream.ts), the maps (mapSource.ts), the concurrency slots (slots.ts), the counts (tally.ts),
 * each item's files (itemOutputs.ts, referenceLayout.ts), asking the VLM (askItem.ts), the judge
 * (judgeAsker.ts) and the summaries (summaries.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnswerProvider } from '../answerProvider';
import { AUX_MODELS } from '../defaults';
import { AttentionPromptError } from '../errors';
import { DecodedImage, ImageLimits, alphaForGeometry, processPixelBudget } from '../image';
import { checkMaskParameters } from '../maskParameters';
import { VlmClient } from '../vlm';
import { askAbout, previousOriginals } from './askItem';
import type { BatchOptions } from './batchOptions';
import type { BatchItem } from './inputs';
import { ItemRecord, RunContext, baseRecord, failure } from './itemContext';
import { countItems, decodeUnanswered, oneAhead, runItems } from './itemStream';
import { writeOutputs } from './itemOutputs';
import { judgeAsker } from './judgeAsker';
import { BatchMap, MapSource, loadMapSource, withMask } from './mapSource';
import { OutputLock } from './outputLock';
import { referenceFolder } from './referenceLayout';
import { ScoreSummary, scoreRecord } from './rescore';
import { ResultRecord, ResultsLog } from './results';
import { PARTIAL_LINES_FILE } from './resultLines';
import { RunSettings, checkResumeSettings, writeRunSettings } from './runSettings';
import type { AnswerScore } from './scoring';
import { shardLabel } from './shards';
import { Slots } from './slots';
import { BatchSummary, writeScores, writeSummary } from './summaries';
import { SweepSetting, byLayer, checkSweepValues, resultKey, sweepSettings } from './sweep';
import { Tally } from './tally';

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
