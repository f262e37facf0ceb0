/**
 * The engine process: runs CLIP and sharp away from the extension host, so a native crash or a
 * long computation never freezes or kills it. Started lazily by the host (EngineClient) with
 * child_process.fork and 'advanced' serialization; answers EngineRequests with EngineMessages.
 * Keeps the model warm, and the maps of recent images so control changes only re-render.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { Attribution, AttentionPromptEngine } from '../core/engine';
import { isAttentionPromptError } from '../core/errors';
import { DecodedImage, decodeImage, fromDecoded } from '../core/image';
import { mergeMaps } from '../core/maps';
import { encode, materialize, renderOutputs } from '../core/render';
import { imageDataUrl } from '../core/vlmImage';
import { runBatch } from '../core/batch/runner';
import { writeReport } from '../core/batch/report';
import type { AttributeParams, AttributionSummary, EngineMessage, EngineRequest, EngineResult, ModelParameters, RenderedImages, ViewParameters } from '../shared/protocol';

interface CachedAttribution {
  image: DecodedImage;
  preview: DecodedImage;
  attribution: Attribution;
  summary: AttributionSummary;
}

const MAX_ENGINES = 2;
const MAX_ATTRIBUTIONS = 6;
const engines = new Map<string, Promise<AttentionPromptEngine>>();
const attributions = new Map<string, CachedAttribution>();
const inFlight = new Map<number, AbortController>();

function send(message: EngineMessage): void {
  process.send?.(message);
}

function engineKey(m: ModelParameters, layer: number | null): string {
  return JSON.stringify([m.model, m.dtype, m.revision ?? 'main', m.cacheDir, layer ?? 'default', m.threads ?? 0]);
}

async function getEngine(m: ModelParameters, layer: number | null, id: number): Promise<AttentionPromptEngine> {
  const key = engineKey(m, layer);
  let pending = engines.get(key);
  if (!pending) {
    pending = AttentionPromptEngine.load({
      model: m.model,
      dtype: m.dtype,
      revision: m.revision,
      cacheDir: m.cacheDir,
      threads: m.threads,
      layer: layer ?? undefined,
      onProgress: (p) => send({ id, progress: { stage: 'download', file: p.file, loaded: p.loaded, total: p.total, progress: p.progress } }),
    });
    engines.set(key, pending);
    pending.catch(() => engines.delete(key));
    // An interactive session asks new questions: load the text tower while the user looks.
    pending.then((e) => e.warmText()).catch(() => undefined);
    // Keep the most recent engines only (another layer or model loads a second one).
    while (engines.size > MAX_ENGINES) {
      const [oldest, old] = engines.entries().next().value!;
      engines.delete(oldest);
      old.then((e) => e.dispose()).catch(() => undefined);
    }
  } else {
    engines.delete(key);
    engines.set(key, pending);
  }
  return pending;
}

async function previewOf(image: DecodedImage, maxSide: number): Promise<DecodedImage> {
  if (Math.max(image.width, image.height) <= maxSide) return image;
  const { data, info } = await fromDecoded(image).resize(maxSide, maxSide, { fit: 'inside' }).raw().toBuffer({ resolveWithObject: true });
  return { ...image, width: info.width, height: info.height, rgb: data };
}

/** The mask for the control values, re-made from the cached maps, rendered over `image`. */
async function renderWith(entry: CachedAttribution, image: DecodedImage, view: ViewParameters) {
  const a = entry.attribution;
  const merged = mergeMaps(a.psiCls, a.psiTok, a.grid[0], a.grid[1], { contrast: view.contrast, kernel: view.kernel });
  return renderOutputs(image, merged.mask, a.grid, { interpolation: view.interpolation, gray: view.gray, opacity: view.opacity });
}

async function renderPreview(entry: CachedAttribution, view: ViewParameters): Promise<RenderedImages> {
  const { preview } = entry;
  const out = await renderWith(entry, preview, view);
  const [original, overlay, masked] = await Promise.all([
    fromDecoded(preview).png({ compressionLevel: 3 }).toBuffer(),
    out.overlay().png({ compressionLevel: 3 }).toBuffer(),
    out.masked.png({ compressionLevel: 3 }).toBuffer(),
  ]);
  return { original, overlay, masked, width: preview.width, height: preview.height };
}

function remember(entry: CachedAttribution): void {
  attributions.set(entry.summary.attributionId, entry);
  while (attributions.size > MAX_ATTRIBUTIONS) attributions.delete(attributions.keys().next().value!);
}

function cached(id: string): CachedAttribution {
  const entry = attributions.get(id);
  if (!entry) throw Object.assign(new Error('This heatmap is no longer in memory; compute it again.'), { code: 'expired' });
  return entry;
}

async function attribute(id: number, p: AttributeParams, signal: AbortSignal): Promise<EngineResult> {
  const image = await decodeImage(p.imagePath);
  const engine = await getEngine(p.model, p.view.layer, id);
  send({ id, progress: { stage: 'heatmap' } });
  const attribution = await engine.attribute(image, {
    question: p.question,
    hint: p.view.hint || undefined,
    geometry: p.model.geometry,
    mask: { contrast: p.view.contrast, kernel: p.view.kernel },
    signal,
  });
  const summary: AttributionSummary = {
    attributionId: randomUUID(),
    grid: attribution.grid,
    model: engine.modelName,
    layer: engine.layer,
    numLayers: engine.numLayers,
    tokens: attribution.text.tokens,
    truncated: attribution.text.truncated,
    degenerate: attribution.degenerate,
    imageWidth: image.width,
    imageHeight: image.height,
    timings: { ...engine.loadTimings, ...attribution.timings },
  };
  const entry: CachedAttribution = { image, preview: await previewOf(image, p.previewMaxSide), attribution, summary };
  remember(entry);
  send({ id, progress: { stage: 'render' } });
  return { summary, images: await renderPreview(entry, p.view) };
}

/** The original or the masked image at full resolution. */
async function fullImage(entry: CachedAttribution, view: ViewParameters, which: 'masked' | 'original'): Promise<sharp.Sharp> {
  if (which === 'original') return fromDecoded(entry.image);
  return (await renderWith(entry, entry.image, view)).masked;
}

async function handle(req: EngineRequest): Promise<EngineResult> {
  switch (req.method) {
    case 'attribute': {
      const controller = new AbortController();
      inFlight.set(req.id, controller);
      try {
        return await attribute(req.id, req.params, controller.signal);
      } finally {
        inFlight.delete(req.id);
      }
    }
    case 'rerender': {
      const entry = cached(req.params.attributionId);
      return { images: await renderPreview(entry, req.params.view) };
    }
    case 'export': {
      const entry = cached(req.params.attributionId);
      const data = await encode(await fullImage(entry, req.params.view, req.params.which), req.params.format).toBuffer();
      return { data, format: req.params.format, sourceFormat: entry.image.format };
    }
    case 'payload': {
      const entry = cached(req.params.attributionId);
      // Materialised once: imageDataUrl resizes and may encode twice.
      const image = await materialize(await fullImage(entry, req.params.view, req.params.which));
      return imageDataUrl(image, { maxSide: req.params.maxSide, format: req.params.format, sourceFormat: entry.image.format });
    }
    case 'batch': {
      const p = req.params;
      const controller = new AbortController();
      inFlight.set(req.id, controller);
      try {
        const engine = await getEngine(p.model, p.view.layer, req.id);
        const summary = await runBatch(
          {
            input: p.input,
            question: p.question,
            outDir: p.outDir,
            engine: { model: p.model.model },
            geometry: p.model.geometry,
            mask: { contrast: p.view.contrast, kernel: p.view.kernel },
            interpolation: p.view.interpolation,
            gray: p.view.gray,
            opacity: p.view.opacity,
            vlm: p.vlm,
            concurrency: p.concurrency,
            resume: p.resume,
            signal: controller.signal,
            onProgress: (x) => send({ id: req.id, progress: { stage: 'batch', done: x.done, failed: x.failed, skipped: x.skipped, total: x.total, rate: x.rate, file: x.current } }),
            onLog: (message) => send({ log: { level: 'info', message } }),
          },
          engine,
        );
        const report = await writeReport(p.outDir, summary);
        return { batch: { done: summary.done, failed: summary.failed, skipped: summary.skipped, total: summary.total, interrupted: summary.interrupted, imagesPerSecond: summary.imagesPerSecond, report, outDir: p.outDir } };
      } finally {
        inFlight.delete(req.id);
      }
    }
    case 'cancel':
      inFlight.get(req.params.target)?.abort();
      return {};
    case 'release':
      for (const e of engines.values()) e.then((x) => x.dispose()).catch(() => undefined);
      engines.clear();
      attributions.clear();
      return {};
  }
}

process.on('message', (req: EngineRequest) => {
  handle(req).then(
    (result) => send({ id: req.id, ok: true, result }),
    (e: unknown) => {
      const code = isAttentionPromptError(e) ? e.code : ((e as { code?: string }).code ?? 'internal');
      send({ id: req.id, ok: false, error: { code, message: e instanceof Error ? e.message : String(e) } });
    },
  );
});
process.on('disconnect', () => process.exit(0));
send({ log: { level: 'info', message: `engine process ${process.pid} ready` } });
