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
import { Attribution, AttentionPromptEngine, EngineOptions, Geometry } from '../engine';
import { AttentionPromptError } from '../errors';
import { DecodedImage, decodeImage, fromDecoded } from '../image';
import { MaskParameters } from '../maps';
import { Interpolation, materialize, renderOutputs } from '../render';
import { VlmClient, VlmSettings, endpointHost } from '../vlm';
import { imageDataUrl } from '../vlmImage';
import { BatchItem, readItems } from './inputs';
import { ResultRecord, ResultsLog } from './results';

export interface BatchVlmOptions extends VlmSettings {
  compareWithOriginal: boolean;
  maxImageSide: number;
}

export interface BatchOptions {
  input: string;
  question?: string;
  /** Hint text for items that have none. */
  hint?: string;
  outDir: string;
  engine: EngineOptions;
  geometry: Geometry;
  mask: MaskParameters;
  interpolation: Interpolation;
  gray: number;
  opacity: number;
  /** Undefined: no VLM (--no-vlm). */
  vlm?: BatchVlmOptions;
  concurrency: number;
  resume: boolean;
  /** Also write the reference repository's folder layout. */
  referenceLayout?: { dataset: string };
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
  imagesPerSecond: number;
  model: string;
  layer: number;
  parameters: ResultRecord['parameters'];
  endpointHost?: string;
  vlmModel?: string;
  startedAt: string;
  finishedAt: string;
}

/** A counting semaphore for VLM requests. */
class Slots {
  private waiting: Array<() => void> = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
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
  const modelName = path.basename(model).replace(/[^\w.-]+/g, '_');
  return path.join(outDir, `APICLIP_${dataset}_${modelName}_${layer}`, `${p.contrast}_${p.kernel}_${PIL_NAMES[p.interpolation]}_${p.gray}`);
}

async function countItems(input: string, question: string | undefined): Promise<number> {
  let n = 0;
  for await (const item of readItems(input, { question })) {
    void item;
    n++;
  }
  return n;
}

type Decoded = { item: BatchItem; image?: DecodedImage; error?: Error; decodeMs: number };

export async function runBatch(opts: BatchOptions, sharedEngine?: AttentionPromptEngine): Promise<BatchSummary> {
  const startedAt = new Date();
  const t0 = performance.now();
  const log = opts.onLog ?? (() => undefined);
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new AttentionPromptError('bad-parameter', `--concurrency must be a positive integer, got ${opts.concurrency}.`);
  for (const dir of ['masked', 'overlays', 'thumbs']) fs.mkdirSync(path.join(opts.outDir, dir), { recursive: true });

  // Validates the input (and every item's question) before any model loads.
  const total = await countItems(opts.input, opts.question);
  const { log: results, done: already, dropped } = await ResultsLog.open(opts.outDir, opts.resume).catch((e: Error & { code?: string }) => {
    throw new AttentionPromptError(e.code === 'output-exists' ? 'output-exists' : 'internal', e.message);
  });
  if (dropped) log(`resume: dropped ${dropped} failed or partial line(s); those items are redone`);

  const engine = sharedEngine ?? (await AttentionPromptEngine.load(opts.engine));
  // Rates count from here: loading the model is a one-off, reported by the engine's own timings.
  const tReady = performance.now();
  const vlm = opts.vlm ? new VlmClient(opts.vlm) : undefined;
  const host = opts.vlm ? endpointHost(opts.vlm.baseURL) : undefined;
  const slots = new Slots(opts.concurrency);
  const parameters = { contrast: opts.mask.contrast, kernel: opts.mask.kernel, gray: opts.gray, interpolation: opts.interpolation, geometry: opts.geometry };
  const refDir = opts.referenceLayout ? referenceFolder(opts.outDir, opts.referenceLayout.dataset, engine.modelName, engine.layer, { ...opts.mask, interpolation: opts.interpolation, gray: opts.gray }) : undefined;
  if (refDir) fs.mkdirSync(refDir, { recursive: true });
  const thumb = opts.thumbSize ?? 160;

  let doneCount = 0;
  let failed = 0;
  let skipped = 0;
  let processed = 0;
  const progress = (current?: string) => {
    const elapsed = (performance.now() - tReady) / 1000;
    opts.onProgress?.({ total, done: doneCount, failed, skipped, rate: processed / Math.max(elapsed, 1e-3), current });
  };
  const finish = (rec: ResultRecord) => {
    results.append(rec);
    processed++;
    if (rec.error) failed++;
    else doneCount++;
    progress(rec.id);
  };

  const items = readItems(opts.input, { question: opts.question });
  const nextDecoded = async (): Promise<Decoded | undefined> => {
    for (;;) {
      const { value: item, done } = await items.next();
      if (done) return undefined;
      if (already.has(item.id)) {
        skipped++;
        progress(item.id);
        continue;
      }
      const start = performance.now();
      try {
        return { item, image: await decodeImage(item.image), decodeMs: performance.now() - start };
      } catch (e) {
        return { item, error: e as Error, decodeMs: performance.now() - start };
      }
    }
  };

  const inFlight = new Set<Promise<void>>();
  let pending = nextDecoded();
  try {
    for (;;) {
      if (opts.signal?.aborted) break;
      const current = await pending;
      if (!current) break;
      // Decode the next image while this one runs through CLIP (decoding happens in libvips threads).
      pending = nextDecoded();
      const { item } = current;
      if (!item.hint && opts.hint) item.hint = opts.hint;
      const base = (): Omit<ResultRecord, 'finishedAt' | 'timings'> => ({ id: item.id, image: item.image, question: item.question, hint: item.hint, parameters, model: engine.modelName, layer: engine.layer, endpointHost: host, vlmModel: opts.vlm?.model });
      const timings: Record<string, number> = { decode: current.decodeMs };
      if (!current.image) {
        finish({ ...base(), timings, error: { stage: 'decode', message: current.error!.message }, finishedAt: new Date().toISOString() });
        continue;
      }
      const image = current.image;
      let attribution: Attribution;
      try {
        attribution = await engine.attribute(image, { question: item.question, hint: item.hint, geometry: opts.geometry, mask: opts.mask });
        Object.assign(timings, attribution.timings);
      } catch (e) {
        finish({ ...base(), timings, error: { stage: 'heatmap', message: (e as Error).message }, finishedAt: new Date().toISOString() });
        continue;
      }
      // Rendering, writing and asking run in the background (sharp works in libuv's threads)
      // while the loop moves on to the next image's CLIP pass; the line is written last.
      const task = (async () => {
        let outputs: ResultRecord['outputs'];
        let maskedPng: sharp.Sharp;
        try {
          const start = performance.now();
          const rendered = await renderOutputs(image, attribution.mask, attribution.grid, { interpolation: opts.interpolation, gray: opts.gray, opacity: opts.opacity });
          maskedPng = await materialize(rendered.masked);
          const photo = image.format === 'jpeg';
          const maskedFile = path.join('masked', `${item.id}.${photo ? 'jpg' : 'png'}`);
          const overlayFile = path.join('overlays', `${item.id}.jpg`);
          const thumbs = { original: path.join('thumbs', `${item.id}.original.jpg`), overlay: path.join('thumbs', `${item.id}.overlay.jpg`), masked: path.join('thumbs', `${item.id}.masked.jpg`) };
          const small = (p: sharp.Sharp) => p.clone().resize(thumb, thumb, { fit: 'inside' }).jpeg({ quality: 70 });
          const overlay = await materialize(rendered.overlay());
          await Promise.all([
            (photo ? maskedPng.clone().jpeg({ quality: 92 }) : maskedPng.clone().png({ compressionLevel: 3 })).toFile(path.join(opts.outDir, maskedFile)),
            overlay.clone().jpeg({ quality: 85 }).toFile(path.join(opts.outDir, overlayFile)),
            small(fromDecoded(image)).toFile(path.join(opts.outDir, thumbs.original)),
            small(overlay).toFile(path.join(opts.outDir, thumbs.overlay)),
            small(maskedPng).toFile(path.join(opts.outDir, thumbs.masked)),
            // The reference saves PIL's default JPEG (quality 75) named by key (main.py:140-141).
            refDir ? maskedPng.clone().jpeg({ quality: 75 }).toFile(path.join(refDir, `${item.id}.jpg`)) : Promise.resolve(),
          ]);
          outputs = { masked: maskedFile, overlay: overlayFile, thumbs, reference: refDir ? path.relative(opts.outDir, path.join(refDir, `${item.id}.jpg`)) : undefined };
          timings.render = performance.now() - start;
        } catch (e) {
          finish({ ...base(), timings, error: { stage: 'render', message: (e as Error).message }, finishedAt: new Date().toISOString() });
          return;
        }
        if (!vlm || !opts.vlm) {
          finish({ ...base(), outputs, timings, finishedAt: new Date().toISOString() });
          return;
        }
        const v = opts.vlm;
        let maskedUrl: string;
        let originalUrl: string | undefined;
        try {
          maskedUrl = (await imageDataUrl(maskedPng, { maxSide: v.maxImageSide, sourceFormat: image.format })).url;
          originalUrl = v.compareWithOriginal ? (await imageDataUrl(fromDecoded(image), { maxSide: v.maxImageSide, sourceFormat: image.format })).url : undefined;
        } catch (e) {
          finish({ ...base(), outputs, timings, error: { stage: 'payload', message: (e as Error).message }, finishedAt: new Date().toISOString() });
          return;
        }
        const ask = async (url: string, key: string): Promise<string> => {
          await slots.acquire();
          const start = performance.now();
          try {
            return (await vlm.ask({ question: item.question, imageUrl: url, signal: opts.signal })).text;
          } finally {
            timings[key] = performance.now() - start;
            slots.release();
          }
        };
        const [m, o] = await Promise.allSettled([ask(maskedUrl, 'vlmMasked'), originalUrl ? ask(originalUrl, 'vlmOriginal') : Promise.resolve(undefined)]);
        // Interrupted: write nothing, so the item is redone on --resume.
        if (opts.signal?.aborted) return;
        const err = m.status === 'rejected' ? m.reason : o.status === 'rejected' ? o.reason : undefined;
        finish({
          ...base(),
          outputs,
          timings,
          maskedAnswer: m.status === 'fulfilled' ? m.value : undefined,
          originalAnswer: o.status === 'fulfilled' ? o.value : undefined,
          error: err ? { stage: m.status === 'rejected' ? 'vlm-masked' : 'vlm-original', message: (err as Error).message } : undefined,
          finishedAt: new Date().toISOString(),
        });
      })();
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      // Backpressure: never more items rendering or waiting on the VLM than --concurrency.
      while (inFlight.size >= opts.concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    results.close();
    if (!sharedEngine) await engine.dispose();
  }
  const interrupted = !!opts.signal?.aborted;
  const elapsedMs = performance.now() - t0;
  const summary: BatchSummary = {
    input: opts.input,
    outDir: opts.outDir,
    total,
    done: doneCount,
    failed,
    skipped,
    interrupted,
    elapsedMs,
    imagesPerSecond: processed / Math.max((performance.now() - tReady) / 1000, 1e-3),
    model: engine.modelName,
    layer: engine.layer,
    parameters,
    endpointHost: host,
    vlmModel: opts.vlm?.model,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
  };
  fs.writeFileSync(path.join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}
