/**
 * The messages exchanged by the extension host, its engine process and its webviews. Types only
 * (plus tiny guards), so the same file compiles into all three bundles.
 */

// ---- parameters shared by everyone -----------------------------------------------------------

import type { Dtype, Geometry, Interpolation, ViewSettings, VlmRunSettings } from '../core/defaults';
export type { Geometry, Interpolation };

/** What the controls change without re-running CLIP (except `layer` and `hint`). */
export interface ViewParameters extends ViewSettings {
  hint: string;
}

export interface ModelParameters {
  model: string;
  dtype: Dtype;
  revision?: string;
  cacheDir: string;
  geometry: Geometry;
  threads?: number;
}

// ---- host ↔ engine process -------------------------------------------------------------------

export interface AttributeParams {
  imagePath: string;
  question: string;
  model: ModelParameters;
  view: ViewParameters;
  /** Longest side of the preview images sent to the webview. */
  previewMaxSide: number;
}

export interface RenderedImages {
  /** PNG bytes at preview size. */
  original: Uint8Array;
  overlay: Uint8Array;
  masked: Uint8Array;
  width: number;
  height: number;
}

export interface AttributionSummary {
  /** Handle to the cached maps in the engine process, for re-rendering. */
  attributionId: string;
  grid: [number, number];
  model: string;
  layer: number;
  numLayers: number;
  tokens: number;
  truncated: boolean;
  degenerate: boolean;
  /** Full-resolution size of the image. */
  imageWidth: number;
  imageHeight: number;
  timings: Record<string, number>;
}

export type EngineRequest =
  | { id: number; method: 'attribute'; params: AttributeParams }
  | { id: number; method: 'rerender'; params: { attributionId: string; view: ViewParameters; previewMaxSide: number } }
  | { id: number; method: 'export'; params: { attributionId: string; view: ViewParameters; which: 'masked' | 'original'; format: 'png' | 'jpeg' } }
  | { id: number; method: 'payload'; params: { attributionId: string; view: ViewParameters; which: 'masked' | 'original'; maxSide: number; format: 'auto' | 'png' | 'jpeg' } }
  | { id: number; method: 'batch'; params: BatchParams }
  | { id: number; method: 'cancel'; params: { target: number } }
  | { id: number; method: 'release'; params: Record<string, never> };

export interface BatchParams {
  input: string;
  question?: string;
  outDir: string;
  resume: boolean;
  model: ModelParameters;
  view: ViewParameters;
  concurrency: number;
  /** Absent: masks only. The key travels over the IPC channel only, never into a log. */
  vlm?: VlmRunSettings;
}

export interface BatchOutcome {
  done: number;
  failed: number;
  skipped: number;
  total: number;
  interrupted: boolean;
  imagesPerSecond: number;
  report: string;
  outDir: string;
}

export type EngineResult =
  | { summary: AttributionSummary; images: RenderedImages }
  | { images: RenderedImages; summary?: AttributionSummary }
  | { data: Uint8Array; format: string; sourceFormat: string }
  | { url: string; mime: string; bytes: number }
  | { batch: BatchOutcome }
  | Record<string, never>;

export interface EngineProgress {
  stage: 'download' | 'load' | 'heatmap' | 'render' | 'batch';
  done?: number;
  failed?: number;
  skipped?: number;
  rate?: number;
  file?: string;
  loaded?: number;
  total?: number;
  progress?: number;
}

export type EngineMessage =
  | { id: number; ok: true; result: EngineResult }
  | { id: number; ok: false; error: { code: string; message: string } }
  | { id: number; progress: EngineProgress }
  | { log: { level: 'info' | 'warn' | 'error'; message: string } };

// ---- host ↔ heatmap panel webview ------------------------------------------------------------

export interface PanelState {
  fileName: string;
  question: string;
  view: ViewParameters;
  numLayers?: number;
  defaultLayer?: number;
  summary?: AttributionSummary;
  busy?: string;
  error?: string;
  /** Whether sending to a VLM is allowed (trusted workspace). */
  canAsk: boolean;
}

export type HostToPanel =
  | { type: 'state'; state: PanelState }
  | { type: 'images'; images: { original: string; overlay: string; masked: string; width: number; height: number } }
  | { type: 'busy'; message: string | undefined }
  | { type: 'error'; message: string };

export type PanelToHost =
  | { type: 'ready' }
  | { type: 'viewChanged'; view: ViewParameters }
  | { type: 'ask'; question: string }
  | { type: 'save' }
  | { type: 'copyFailed'; message: string };

// ---- host ↔ answers view webview -------------------------------------------------------------

export interface AnswerSide {
  text: string;
  status: 'waiting' | 'streaming' | 'done' | 'error' | 'stopped' | 'off';
  error?: string;
  elapsedMs?: number;
}

export interface AnswerEntry {
  id: string;
  imagePath: string;
  fileName: string;
  question: string;
  model: string;
  host: string;
  at: number;
  masked: AnswerSide;
  original: AnswerSide;
  heatmapMs?: number;
}

export type HostToAnswers =
  | { type: 'entries'; entries: AnswerEntry[] }
  | { type: 'entry'; entry: AnswerEntry };

export type AnswersToHost =
  | { type: 'ready' }
  | { type: 'reask'; id: string }
  | { type: 'stop'; id: string }
  | { type: 'clear' }
  | { type: 'reveal'; id: string };

export function isMessage<T extends { type: string }>(value: unknown, types: readonly T['type'][]): value is T {
  return typeof value === 'object' && value !== null && types.includes((value as { type: T['type'] }).type);
}
