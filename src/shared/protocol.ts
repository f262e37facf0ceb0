/**
 * The messages exchanged by the extension host, its engine process and its webviews: for each
 * channel, what each side handles (requests with their reply and progress types, notifications),
 * carried by rpc.ts's Endpoint. Messages from webviews are checked field by field (checks at the
 * end). Bytes travel as Uint8Array on every channel (structured clone), never as base64 text.
 */
import type { AnswerImage, AnswerProvider, AnswerResult } from '../core/answerProvider';
import type { FavouredRegion } from '../core/region';
import type { ErrorCode } from '../core/errors';
import { AUX_MODELS, DEFAULT_AUX, OPACITY, type AnswerSourceKind, type AuxModel, type Dtype, type Geometry, type Interpolation, type ViewSettings, type VlmRunSettings, type VlmSettings } from '../core/defaults';
import { type MaskSettingName, maskSettingProblem } from '../core/maskParameters';
import { judgedBy, number, object, oneOf, nullable, optional, string, empty, type Check } from './validate';
import type { Checks } from './rpc';
import type { ReportStrings } from './reportStrings';

export type { ErrorCode };

// ---- parameters shared by everyone -----------------------------------------------------------

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

/** The local vision-language model (provider `local`, auxiliary model `lvlm`): kept in the CLIP models' cache. */
export type LocalModelParameters = Pick<ModelParameters, 'model' | 'cacheDir' | 'threads'>;

// ---- host ↔ engine process -------------------------------------------------------------------

export interface AttributeParams {
  imagePath: string;
  question: string;
  model: ModelParameters;
  view: ViewParameters;
  /** The local model, for `view.aux` lvlm. */
  local?: LocalModelParameters;
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
  /** Absent: CLIP. */
  aux?: AuxModel;
  /** The layer "default" means (absent: numLayers − 2, CLIP's). */
  defaultLayer?: number;
  /** With aux lvlm: the text the local model generated while the map was read. */
  generatedText?: string;
}

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



/** Where answers come from: an endpoint the engine process calls itself, the host's VS Code language model (an engine → host request), or the local model. */
export type AnswerSource = { kind: 'openai'; endpoint: VlmSettings } | { kind: 'vscode' } | { kind: 'local'; model: LocalModelParameters; maxTokens: number };

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
  /** Who answers: the endpoint in `vlm` ('openai', the default), the host's VS Code language model ('vscode': engine → host requests), or the local model. */
  answerSource?: AnswerSourceKind;
  /** The local model, for answers from it or `view.aux` lvlm. */
  local?: LocalModelParameters;
  /** With answers from a VS Code language model: the model and its vendor, for results and the report. */
  vscodeModel?: AnswerProvider['label'];
  /** The report's texts in the user's language (the host's vscode.l10n translations); absent: English. */
  reportStrings?: ReportStrings;
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

/** Which rendering of a cached heatmap, encoded for a model. */
export interface ImageChoice {
  attributionId: string;
  view: ViewParameters;
  which: 'masked' | 'original';
  /** Longest side sent. */
  maxSide: number;
  format: 'auto' | 'png' | 'jpeg';
}

export interface AnswerDelta {
  delta: string;
}

// ---- host ↔ engine process -------------------------------------------------------------------

/** What the engine process handles. */
export interface EngineVocabulary {
  requests: {
    /** Runs CLIP on an image; keeps the maps for re-rendering. */
    attribute: { params: AttributeParams; reply: { summary: AttributionSummary; images: RenderedImages }; progress: EngineProgress };
    /** New control values, from the cached maps. */
    rerender: { params: { attributionId: string; view: ViewParameters; previewMaxSide: number }; reply: { images: RenderedImages } };
    /** The original or the masked image at full resolution, encoded. */
    export: { params: { attributionId: string; view: ViewParameters; which: 'masked' | 'original'; format: 'png' | 'jpeg' }; reply: { data: Uint8Array; format: 'png' | 'jpeg'; sourceFormat: string }; progress: EngineProgress };
    /** The image a model would receive (for answer sources in the host, such as a VS Code language model). */
    payload: { params: ImageChoice; reply: AnswerImage; progress: EngineProgress };
    /** Where the mask for these control values keeps the image (bounding box, share), for tools and chat. */
    region: { params: { attributionId: string; view: ViewParameters }; reply: { region: FavouredRegion | null } };
    /** Asks a model about the chosen image; the answer streams back as progress. */
    answer: { params: ImageChoice & { question: string; source: AnswerSource }; reply: AnswerResult; progress: AnswerDelta };
    /** Dataset review. */
    batch: { params: BatchParams; reply: BatchOutcome; progress: EngineProgress };
    /** Drops the models and cached maps (the process stays). */
    release: { params: Record<string, never>; reply: Record<string, never> };
  };
  notifications: Record<string, never>;
}

/** What the extension host handles from the engine process. */
export interface HostVocabulary {
  requests: {
    /** An answer from a source only the host has (VS Code's language models); deltas stream back as progress. */
    answer: { params: { question: string; image?: AnswerImage; temperature?: number; maxTokens?: number }; reply: AnswerResult; progress: AnswerDelta };
  };
  notifications: {
    log: { level: 'info' | 'warn' | 'error'; message: string };
  };
}

// ---- host ↔ heatmap panel webview ------------------------------------------------------------

export interface PanelError {
  code: ErrorCode;
  message: string;
}

export interface PanelState {
  /** What a restored panel needs after a window reload (the webview keeps it with setState). */
  imagePath: string;
  fileName: string;
  question: string;
  view: ViewParameters;
  numLayers?: number;
  defaultLayer?: number;
  summary?: AttributionSummary;
  busy?: string;
  error?: PanelError;
  /** Whether sending to a VLM is allowed (trusted workspace). */
  canAsk: boolean;
}

/** What the heatmap webview handles. */
export interface PanelVocabulary {
  requests: Record<string, never>;
  notifications: {
    state: PanelState;
    images: RenderedImages;
    busy: { message?: string };
  };
}

/** What the host handles from a heatmap webview. */
export interface PanelHostVocabulary {
  requests: Record<string, never>;
  notifications: {
    ready: undefined;
    viewChanged: { view: ViewParameters };
    ask: { question: string };
    save: undefined;
    retry: undefined;
    showLog: undefined;
    copyFailed: { message: string };
  };
}

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

/** What the answers webview handles. */
export interface AnswersVocabulary {
  requests: Record<string, never>;
  notifications: {
    entries: { entries: AnswerEntry[] };
    entry: { entry: AnswerEntry };
  };
}

/** What the host handles from the answers webview. */
export interface AnswersHostVocabulary {
  requests: Record<string, never>;
  notifications: {
    ready: undefined;
    reask: { id: string };
    stop: { id: string };
    clear: undefined;
    reveal: { id: string };
  };
}

// ---- host ↔ batch report webview (report.html inside VS Code) --------------------------------

/** What the report handles from the host: nothing (it is a file; the host only listens). */
export interface ReportVocabulary {
  requests: Record<string, never>;
  notifications: Record<string, never>;
}

/** What the host handles from the report. */
export interface ReportHostVocabulary {
  requests: Record<string, never>;
  notifications: {
    /** A row was clicked: open this result (an item, and its sweep setting) in the heatmap panel. */
    openItem: { id: string; setting?: string };
    /** "Re-run failed": resume the run, which redoes the failed items. */
    rerunFailed: undefined;
  };
}

// ---- checks for what webviews (and restored panel states) send --------------------------------

const MAX_TEXT = 4000;

/** A mask parameter, refused with the message the CLI, the engine and the batch runner use. */
const maskSetting = <K extends MaskSettingName>(name: K) => judgedBy<ViewParameters[K]>((v) => maskSettingProblem(name, v));

export const checkView: Check<ViewParameters> = object({
  contrast: maskSetting('contrast'),
  kernel: maskSetting('kernel'),
  gray: maskSetting('gray'),
  interpolation: maskSetting('interpolation'),
  // As readViewSettings allows (the engine checks it against the model's depth).
  layer: nullable(number({ min: -1000, max: 1000, integer: true })),
  opacity: number({ min: OPACITY.min, max: OPACITY.max }),
  hint: string({ maxLength: MAX_TEXT }),
  // Absent in panel states saved before the control existed: CLIP.
  aux: (v, field): AuxModel => (v === undefined ? DEFAULT_AUX : oneOf(AUX_MODELS)(v, field)),
});

const entryId = object({ id: string({ maxLength: 100 }) });

export const PANEL_HOST_CHECKS: Checks<PanelHostVocabulary> = {
  requests: {},
  notifications: {
    ready: empty(),
    viewChanged: object({ view: checkView }),
    ask: object({ question: string({ maxLength: MAX_TEXT }) }),
    save: empty(),
    retry: empty(),
    showLog: empty(),
    copyFailed: object({ message: string({ maxLength: MAX_TEXT }) }),
  },
};

export const ANSWERS_HOST_CHECKS: Checks<AnswersHostVocabulary> = {
  requests: {},
  notifications: { ready: empty(), reask: entryId, stop: entryId, clear: empty(), reveal: entryId },
};

export const REPORT_HOST_CHECKS: Checks<ReportHostVocabulary> = {
  requests: {},
  notifications: {
    openItem: object({ id: string({ nonEmpty: true, maxLength: MAX_TEXT }), setting: optional(string({ maxLength: MAX_TEXT })) }),
    rerunFailed: empty(),
  },
};

/** What a restored panel keeps (the webview's own state, so checked like a message). */
export interface RestoredPanel {
  imagePath: string;
  question: string;
  view: ViewParameters;
}

export const checkRestoredPanel: Check<RestoredPanel> = (v, field) => {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  return object({ imagePath: string({ nonEmpty: true, maxLength: MAX_TEXT }), question: string({ maxLength: MAX_TEXT }), view: checkView })(
    { imagePath: o.imagePath, question: o.question, view: o.view },
    field,
  );
};

