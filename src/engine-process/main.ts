/**
 * The engine process: runs CLIP, sharp and the answer sources away from the extension host, so a
 * native crash or a long computation never freezes or kills it. Started lazily by the host
 * (EngineClient) with child_process.fork and 'advanced' serialization (typed arrays travel as
 * bytes); it handles EngineVocabulary requests and can ask the host (HostVocabulary) in turn.
 * Keeps the model warm, and the maps of recent images so control changes only re-render.
 * Every request gets an AbortSignal: a cancelled request stops at its next stage.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { Attribution, AttentionPromptEngine } from '../core/engine';
import { DecodedImage, alphaForGeometry, decodeImage, fromDecoded } from '../core/image';
import { mergeMaps } from '../core/maps';
import { encode, materialize, renderOutputs } from '../core/render';
import { imagePayload } from '../core/vlmImage';
import { favouredRegion } from '../core/region';
import { runBatch } from '../core/batch/runner';
import { writeReport } from '../core/batch/report';
import { LocalVlm } from '../core/lvlm/localVlm';
import { defaultLvlmLayer } from '../core/lvlm/decoderGraph';
import { LvlmAttribution, LvlmMapSource } from '../core/lvlm/lvlmMapSource';
import type { AttributeParams, AttributionSummary, EngineProgress, EngineVocabulary, HostVocabulary, ImageChoice, LocalModelParameters, ModelParameters, RenderedImages, ViewParameters } from '../shared/protocol';
import { ChannelError, Endpoint } from '../shared/rpc';
import { untilAborted } from '../core/errors';
import { HostLanguageModel, answerSource } from './answerSources';

interface CachedAttribution {
  image: DecodedImage;
  preview: DecodedImage;
  attribution: Attribution | LvlmAttribution;
  summary: AttributionSummary;
}

const MAX_ENGINES = 2;
const MAX_ATTRIBUTIONS = 6;
/**
 * A model load that several requests wait on. Download progress goes to every request waiting;
 * one request's cancellation ends its wait at once, and when every request that waited has been
 * cancelled the load itself is stopped (its download aborted, nothing partial kept).
 */
class SharedLoad<T> {
  readonly result: Promise<T>;
  private readonly stop = new AbortController();
  private readonly waiting = new Set<(p: EngineProgress) => void>();
  private settled = false;

  constructor(start: (signal: AbortSignal, progress: (p: EngineProgress) => void) => Promise<T>) {
    this.result = start(this.stop.signal, (p) => {
      for (const send of this.waiting) send(p);
    });
    this.result.then(
      () => (this.settled = true),
      () => (this.settled = true),
    );
  }

  async wait(signal: AbortSignal, progress: (p: EngineProgress) => void): Promise<T> {
    this.waiting.add(progress);
    try {
      return await untilAborted(this.result, signal);
    } finally {
      this.waiting.delete(progress);
      if (this.waiting.size === 0 && !this.settled && signal.aborted) this.stop.abort();
    }
  }
}

const engines = new Map<string, SharedLoad<AttentionPromptEngine>>();
/** The local vision-language model (answers and LVLM maps): one at a time, loaded on first use, kept warm until released. */
let localModel: { key: string; vlm: LocalVlm; maps?: Promise<LvlmMapSource> } | undefined;
const attributions = new Map<string, CachedAttribution>();

const host = new Endpoint<EngineVocabulary, HostVocabulary>({
  send: (m) => {
    if (!process.send) throw new Error('no IPC channel to the extension host');
    process.send(m);
  },
});

function log(level: 'info' | 'warn' | 'error', message: string): void {
  host.notify('log', { level, message });
}

// One engine per model serves every layer: a layer change swaps the engine's single vision
// session (releasing the previous one first) and keeps the text tower (issue 8, item 4).
function engineKey(m: ModelParameters): string {
  return JSON.stringify([m.model, m.dtype, m.revision ?? 'main', m.cacheDir, m.threads ?? 0]);
}

async function getEngine(m: ModelParameters, signal: AbortSignal, progress: (p: EngineProgress) => void): Promise<AttentionPromptEngine> {
  const key = engineKey(m);
  let pending = engines.get(key);
  if (!pending) {
    const load = new SharedLoad((stop, progressAll) =>
      AttentionPromptEngine.load({
        model: m.model,
        dtype: m.dtype,
        revision: m.revision,
        cacheDir: m.cacheDir,
        threads: m.threads,
        signal: stop,
        onProgress: (p) => progressAll({ stage: 'download', file: p.file, loaded: p.loaded, total: p.total, progress: p.progress }),
      }),
    );
    pending = load;
    engines.set(key, load);
    load.result.catch(() => {
      if (engines.get(key) === load) engines.delete(key);
    });
    // An interactive session asks new questions: load the text tower while the user looks.
    load.result.then((e) => e.warmText()).catch(() => undefined);
    // Keep the most recent engines only (another model loads a second one).
    while (engines.size > MAX_ENGINES) {
      const [oldest, old] = engines.entries().next().value!;
      engines.delete(oldest);
      old.result.then((e) => e.dispose()).catch(() => undefined);
    }
  } else {
    engines.delete(key);
    engines.set(key, pending);
  }
  return pending.wait(signal, progress);
}

function localKey(m: LocalModelParameters, layer: number | null): string {
  return JSON.stringify([m.model, m.cacheDir, m.threads ?? 0, layer ?? 'default']);
}

/**
 * The local model for `m`. A map needs the decoder prepared for its layer: another layer replaces the
 * model (one copy in memory); answers use whichever copy is loaded when the model is the same.
 */
function getLocalVlm(m: LocalModelParameters, layer: number | null | 'any', progress: (p: EngineProgress) => void): LocalVlm {
  const sameModel = localModel && JSON.parse(localModel.key)[0] === m.model && JSON.parse(localModel.key)[1] === m.cacheDir;
  if (localModel && (layer === 'any' ? sameModel : localModel.key === localKey(m, layer))) return localModel.vlm;
  void localModel?.vlm.dispose();
  const vlm = new LocalVlm({
    model: m.model,
    cacheDir: m.cacheDir,
    threads: m.threads,
    layer: layer === 'any' || layer === null ? undefined : layer,
    onProgress: (p) => progress({ stage: 'download', file: p.file, loaded: p.loaded, total: p.total, progress: p.progress }),
  });
  localModel = { key: localKey(m, layer === 'any' ? null : layer), vlm };
  return vlm;
}

async function getLvlmMaps(m: LocalModelParameters, layer: number | null, progress: (p: EngineProgress) => void): Promise<LvlmMapSource> {
  const vlm = getLocalVlm(m, layer, progress);
  const entry = localModel!;
  entry.maps ??= LvlmMapSource.load(vlm, false);
  entry.maps.catch(() => {
    if (localModel === entry) entry.maps = undefined;
  });
  return entry.maps;
}

async function previewOf(image: DecodedImage, maxSide: number): Promise<DecodedImage> {
  if (Math.max(image.width, image.height) <= maxSide) return image;
  const { data, info } = await fromDecoded(image).resize(maxSide, maxSide, { fit: 'inside' }).raw().toBuffer({ resolveWithObject: true });
  return { ...image, width: info.width, height: info.height, rgb: data };
}

/** The mask for the control values, re-made from the cached maps (CLIP's or the LVLM's), rendered over `image`. */
async function renderWith(entry: CachedAttribution, image: DecodedImage, view: ViewParameters) {
  const a = entry.attribution;
  const p = { contrast: view.contrast, kernel: view.kernel };
  const mask = 'remask' in a ? a.remask(p) : mergeMaps(a.psiCls, a.psiTok, a.grid[0], a.grid[1], p).mask;
  return renderOutputs(image, mask, a.grid, { interpolation: view.interpolation, gray: view.gray, opacity: view.opacity });
}

async function renderPreview(entry: CachedAttribution, view: ViewParameters, signal: AbortSignal): Promise<RenderedImages> {
  const { preview } = entry;
  const out = await renderWith(entry, preview, view);
  signal.throwIfAborted();
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
  if (!entry) throw new ChannelError('expired', 'This heatmap is no longer in memory; compute it again.');
  return entry;
}

async function attribute(p: AttributeParams, signal: AbortSignal, progress: (p: EngineProgress) => void): Promise<{ summary: AttributionSummary; images: RenderedImages }> {
  const image = await decodeImage(p.imagePath, { alpha: alphaForGeometry(p.model.geometry), signal });
  signal.throwIfAborted();
  if (p.view.aux === 'lvlm') return attributeLvlm(p, image, signal, progress);
  const engine = await getEngine(p.model, signal, progress);
  signal.throwIfAborted();
  progress({ stage: 'heatmap' });
  const attribution = await engine.attribute(image, {
    question: p.question,
    layer: p.view.layer ?? undefined,
    hint: p.view.hint || undefined,
    geometry: p.model.geometry,
    mask: { contrast: p.view.contrast, kernel: p.view.kernel },
    signal,
  });
  const summary: AttributionSummary = {
    attributionId: randomUUID(),
    grid: attribution.grid,
    model: engine.modelName,
    layer: attribution.layer,
    numLayers: engine.numLayers,
    tokens: attribution.text.tokens,
    truncated: attribution.text.truncated,
    degenerate: attribution.degenerate,
    imageWidth: image.width,
    imageHeight: image.height,
    timings: { ...engine.loadTimings, ...attribution.timings },
  };
  const entry: CachedAttribution = { image, preview: await previewOf(image, p.previewMaxSide), attribution, summary };
  signal.throwIfAborted();
  remember(entry);
  progress({ stage: 'render' });
  return { summary, images: await renderPreview(entry, p.view, signal) };
}

/** The LVLM map (the local model answers the question while its attention is read), cached like CLIP's. */
async function attributeLvlm(p: AttributeParams, image: DecodedImage, signal: AbortSignal, progress: (p: EngineProgress) => void): Promise<{ summary: AttributionSummary; images: RenderedImages }> {
  if (!p.local) throw new ChannelError('bad-parameter', 'No local vision-language model chosen for the LVLM map.');
  const started = performance.now();
  const maps = await getLvlmMaps(p.local, p.view.layer, progress);
  const loadMs = performance.now() - started;
  signal.throwIfAborted();
  progress({ stage: 'heatmap' });
  const attribution = await maps.attribute(image, { question: p.question, geometry: p.model.geometry, mask: { contrast: p.view.contrast, kernel: p.view.kernel }, signal });
  const summary: AttributionSummary = {
    attributionId: randomUUID(),
    grid: attribution.grid,
    model: maps.modelName,
    layer: maps.layer,
    numLayers: maps.numLayers,
    tokens: 0,
    truncated: false,
    degenerate: attribution.degenerate,
    imageWidth: image.width,
    imageHeight: image.height,
    timings: { load: loadMs, ...attribution.timings },
    aux: 'lvlm',
    defaultLayer: defaultLvlmLayer(maps.numLayers),
    generatedText: attribution.text,
  };
  const entry: CachedAttribution = { image, preview: await previewOf(image, p.previewMaxSide), attribution, summary };
  signal.throwIfAborted();
  remember(entry);
  progress({ stage: 'render' });
  return { summary, images: await renderPreview(entry, p.view, signal) };
}

/** The original or the masked image at full resolution. */
async function fullImage(entry: CachedAttribution, view: ViewParameters, which: 'masked' | 'original'): Promise<sharp.Sharp> {
  if (which === 'original') return fromDecoded(entry.image);
  return (await renderWith(entry, entry.image, view)).masked;
}

/** The chosen rendering, encoded for a model. */
async function modelImage(choice: ImageChoice, signal: AbortSignal, progress: (p: EngineProgress) => void) {
  const entry = cached(choice.attributionId);
  progress({ stage: 'render' });
  const full = await fullImage(entry, choice.view, choice.which);
  signal.throwIfAborted();
  // Materialised once: imagePayload resizes and may encode twice.
  const image = await materialize(full);
  signal.throwIfAborted();
  return imagePayload(image, { maxSide: choice.maxSide, format: choice.format, sourceFormat: entry.image.format });
}

host
  .onRequest('attribute', (params, { signal, progress }) => attribute(params, signal, progress))
  .onRequest('rerender', async (params, { signal }) => ({ images: await renderPreview(cached(params.attributionId), params.view, signal) }))
  .onRequest('export', async (params, { signal, progress }) => {
    const entry = cached(params.attributionId);
    progress({ stage: 'render' });
    const full = await fullImage(entry, params.view, params.which);
    signal.throwIfAborted();
    const data = await encode(full, params.format).toBuffer();
    return { data, format: params.format, sourceFormat: entry.image.format };
  })
  .onRequest('payload', (params, { signal, progress }) => modelImage(params, signal, progress))
  .onRequest('region', async (params) => {
    const entry = cached(params.attributionId);
    const { fullMask } = await renderWith(entry, entry.image, params.view);
    return { region: favouredRegion(fullMask, entry.image.width, entry.image.height) ?? null };
  })
  .onRequest('answer', async (params, { signal, progress }) => {
    const source = params.source;
    const provider = source.kind === 'local' ? getLocalVlm(source.model, 'any', () => undefined) : answerSource(source, host);
    const image = await modelImage(params, signal, () => undefined);
    signal.throwIfAborted();
    return provider.answer({ question: params.question, image, signal, maxTokens: source.kind === 'local' ? source.maxTokens : undefined, onDelta: (delta) => progress({ delta }) });
  })
  .onRequest('batch', async (p, { signal, progress }) => {
    const lvlm = p.view.aux === 'lvlm';
    if ((lvlm || p.answerSource === 'local') && !p.local) throw new ChannelError('bad-parameter', 'No local vision-language model chosen.');
    const engine = lvlm ? await getLvlmMaps(p.local!, p.view.layer, progress) : await getEngine(p.model, signal, progress);
    const local = p.vlm && p.answerSource === 'local' ? getLocalVlm(p.local!, 'any', progress) : undefined;
    signal.throwIfAborted();
    const summary = await runBatch(
      {
        input: p.input,
        question: p.question,
        outDir: p.outDir,
        engine: lvlm ? { model: p.local!.model } : { model: p.model.model, layer: p.view.layer ?? undefined },
        aux: p.view.aux,
        geometry: p.model.geometry,
        mask: { contrast: p.view.contrast, kernel: p.view.kernel },
        interpolation: p.view.interpolation,
        gray: p.view.gray,
        opacity: p.view.opacity,
        vlm: p.vlm,
        answers: local ?? (p.vlm && p.answerSource === 'vscode' ? new HostLanguageModel(host, p.vscodeModel) : undefined),
        concurrency: p.concurrency,
        resume: p.resume,
        signal,
        onProgress: (x) => progress({ stage: 'batch', done: x.done, failed: x.failed, skipped: x.skipped, total: x.total, rate: x.rate, file: x.current }),
        onLog: (message) => log('info', message),
      },
      engine,
    );
    const report = await writeReport(p.outDir, summary, { strings: p.reportStrings });
    return { done: summary.done, failed: summary.failed, skipped: summary.skipped, total: summary.total, interrupted: summary.interrupted, imagesPerSecond: summary.imagesPerSecond, report, outDir: p.outDir };
  })
  .onRequest('release', () => {
    for (const e of engines.values()) e.result.then((x) => x.dispose()).catch(() => undefined);
    engines.clear();
    void localModel?.vlm.dispose();
    localModel = undefined;
    attributions.clear();
    return {};
  });

process.on('message', (m: unknown) => host.receive(m));
process.on('disconnect', () => process.exit(0));
log('info', `engine process ${process.pid} ready`);
