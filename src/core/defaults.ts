/**
 * Every default, bound and list that the engine, the CLI, the extension's settings (package.json
 * `contributes.configuration`), the extension's menus and the webviews share — defined here once.
 * `defaults.test.ts` checks package.json against this module.
 *
 * Browser-safe: no Node or vscode import (the heatmap webview bundles it for its slider bounds).
 */

// ---- lists ------------------------------------------------------------------------------------

/** `full`: the whole image resized to CLIP's square input; `reference`: the paper's centre crop. */
export const GEOMETRIES = ['full', 'reference'] as const;
export type Geometry = (typeof GEOMETRIES)[number];

/** Pillow's resize filters, each done as Pillow does it (resample.ts): the reference resizes with PIL. */
export const RESIZE_FILTERS = ['LANCZOS', 'BICUBIC', 'BILINEAR', 'NEAREST'] as const;
export type ResizeFilter = (typeof RESIZE_FILTERS)[number];

/**
 * How the mask is stretched over the image, as the setting (`attentionPrompting.interpolation`)
 * and `--interp` spell it. The values are kept as first published so saved settings and scripts
 * still work; `lanczos3` is Pillow's LANCZOS (a = 3, the only Lanczos Pillow has).
 */
export const INTERPOLATIONS = ['lanczos3', 'cubic', 'linear', 'nearest'] as const;
export type Interpolation = (typeof INTERPOLATIONS)[number];
/** The Pillow filter each setting value stands for (also the reference layout's folder name part). */
export const PIL_FILTER: Record<Interpolation, ResizeFilter> = { lanczos3: 'LANCZOS', cubic: 'BICUBIC', linear: 'BILINEAR', nearest: 'NEAREST' };

/**
 * The weight files Transformers.js names for CLIP (its `dtype` option and file suffixes):
 * fp32 `vision_model.onnx`, fp16 `_fp16`, q8 `_quantized` (8-bit dynamic quantization: uint8
 * weights in the vision tower, int8 in the text tower), int8 `_int8`, uint8 `_uint8`, q4 `_q4`
 * (4-bit blocks), q4f16 `_q4f16` (4-bit blocks, float16 compute), bnb4 `_bnb4` (NF4).
 */
export const DTYPES = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'] as const;
export type Dtype = (typeof DTYPES)[number];

/** File extensions (lower case, no dot) of the images every entry point accepts. */
export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'bmp', 'gif', 'tif', 'tiff'] as const;

/** The most pixels an image may decode to: 100 megapixels, 300 MB of RGB. */
export const MAX_IMAGE_PIXELS = 100_000_000;
/** The largest image file read. */
export const MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024;
/**
 * The most pixels of an image built on the way to a model's square input (`geometry: reference`
 * scales the shorter side to the input size, LLaVA's pad makes the longer side square): 16 MP,
 * 48 MB of RGB, an aspect ratio up to about 140:1 at 336 px. A 1×100000 image would otherwise
 * ask for 224×22,400,000 pixels.
 */
export const MAX_INTERMEDIATE_PIXELS = 16_000_000;

/** True when a file name ends in one of IMAGE_EXTENSIONS (any case). */
export function hasImageExtension(fileName: string): boolean {
  const dot = fileName.lastIndexOf('.');
  return dot >= 0 && (IMAGE_EXTENSIONS as readonly string[]).includes(fileName.slice(dot + 1).toLowerCase());
}

/** package.json's Explorer-menu `when` clause: the same list, as VS Code's `=~` regex. */
export const IMAGE_RESOURCE_WHEN = `resourceExtname =~ /^\\.(${IMAGE_EXTENSIONS.join('|')})$/i`;

// ---- model ------------------------------------------------------------------------------------

/** The paper's model (CLIP ViT-L/14 at 336 px), and smaller presets. */
export const DEFAULT_MODEL = 'Xenova/clip-vit-large-patch14-336';
export const MODEL_PRESETS = [
  { id: DEFAULT_MODEL, label: 'CLIP ViT-L/14 @336 (the paper’s model, 1.2 GB fp32)' },
  { id: 'Xenova/clip-vit-base-patch16', label: 'CLIP ViT-B/16 (345 MB fp32)' },
  { id: 'Xenova/clip-vit-base-patch32', label: 'CLIP ViT-B/32 (352 MB fp32, coarse 7×7 map)' },
] as const;

/** The auxiliary model the map comes from: CLIP, or a local LLaVA-style model's decoder attention (API_LLaVA). */
export const AUX_MODELS = ['clip', 'lvlm'] as const;
export type AuxModel = (typeof AUX_MODELS)[number];
export const DEFAULT_AUX: AuxModel = 'clip';

/**
 * The local VLM presets: the smallest LLaVA-family models with Transformers.js ONNX files on the hub.
 * None could be checked here (no hub access from the development machines): only the fixtures were run.
 */
export const LVLM_PRESETS = [
  { id: 'llava-hf/llava-interleave-qwen-0.5b-hf', label: 'LLaVA-Interleave Qwen-0.5B (SigLIP, one 27×27 grid; answers and maps; unverified)' },
  { id: 'llava-hf/llava-onevision-qwen2-0.5b-ov-hf', label: 'LLaVA-OneVision Qwen2-0.5B (any-resolution tiles: answers only; unverified)' },
] as const;
/** The local model's weights unless asked otherwise: the decoder the LVLM map is read from, unquantized. */
export const DEFAULT_LVLM_DTYPE: Dtype = 'fp32';
/**
 * q8: the paper's L/14-336 is a 432 MB first download instead of 1.7 GB, and its masks agree with
 * fp32's (docs/performance.md, "Reduced precision"). `--dtype fp32` with `--geometry reference` reproduces the
 * paper exactly.
 */
export const DEFAULT_DTYPE: Dtype = 'q8';
/** A model download that receives no bytes for this long is stopped (a stalled hub or proxy would otherwise hang the load forever). */
export const DOWNLOAD_STALL_MS = 60_000;
/** The default model's first download (vision + text files) per dtype, where the sizes are known (docs/performance.md). */
export const DEFAULT_MODEL_DOWNLOAD: Partial<Record<Dtype, string>> = { fp32: '1.7 GB', fp16: '857 MB', q8: '432 MB' };
export const DEFAULT_REVISION = 'main';
/** Longest hub revision accepted (a branch, tag or commit; git itself caps a ref name's component at 255 bytes). */
export const MAX_REVISION_LENGTH = 255;
/** Redirects followed for one hub file (fetch's own limit); a hub or proxy that loops is named after this many. */
export const MAX_HUB_REDIRECTS = 20;
/**
 * Set to 1 to send HF_TOKEN to a custom HF_ENDPOINT (a mirror you trust); without it the token
 * goes only to Hugging Face's own hosts, as Transformers.js does.
 */
export const SEND_HF_TOKEN_ENV = 'ATTENTION_PROMPTING_SEND_HF_TOKEN';
/** The hosts HF_TOKEN is sent to without that opt-in (Transformers.js's own list). */
export const HF_TOKEN_HOSTS = ['huggingface.co', 'hf.co'] as const;
export const DEFAULT_GEOMETRY: Geometry = 'full';
/**
 * Whether the batch runner's CLIP session lets ONNX Runtime's threads spin between operators.
 * Off: the runner renders and encodes earlier images while the forward runs, and spinning threads
 * burn the cores that work needs (B/16 batch: ~10 % less CPU per image with spinning off).
 */
export const BATCH_SPIN_WAIT = false;
/**
 * How long the text tower stays loaded with no new text to embed. Embeddings stay known (memory
 * and disk), so only a new question pays a reload (ViT-B/16 ~0.6 s, L/14-336 ~0.7 s); an idle
 * engine gives back the text session (B/16 ~180 MB, L/14-336 fp32 ~500 MB).
 */
export const TEXT_IDLE_RELEASE_MS = 60_000;
/** The most distinct questions a batch embeds before its vision session loads (then releasing the text tower). */
export const PRE_EMBED_LIMIT = 256;

/**
 * What a model's config.json may say, checked before anything is sized from it: a hostile or
 * broken export with `num_hidden_layers: 1e12` ran 25 s and 2.3 GB before "Set maximum size
 * exceeded", and an `image_size` of -64 reached sharp as "Expected positive integer". Far above
 * every released CLIP and LLaVA (ViT-L/14-336: 336 px, 24 layers; LLaVA-1.5-13B: 40 layers,
 * 5120 wide, 4096 positions).
 */
export const MODEL_CONFIG_LIMITS = {
  imageSize: 4096,
  patchSize: 1024,
  layers: 1024,
  heads: 1024,
  width: 65_536,
  /** Context length, in tokens. */
  positions: 1_048_576,
  vocabulary: 4_194_304,
} as const;

/**
 * The local model's prompt (the question, the rendered chat template), bounded before it is
 * tokenized or run: a 6000-word question took 5 GB on a model whose context is 512 tokens, and a
 * template's `range(3e6)` rendered for 24 s in 0.9 GB.
 */
export const LVLM_PROMPT_LIMITS = {
  /** Longest rendering of the chat template; it runs in a worker that is stopped past this. */
  templateRenderMs: 2000,
  /** The worker's JavaScript heap (a template building huge lists fails there, not here). */
  templateRenderHeapMb: 64,
  /** Longest rendered prompt, in characters. */
  promptChars: 100_000,
} as const;

// ---- mask and view parameters -----------------------------------------------------------------

export interface NumberBounds {
  default: number;
  min: number;
  /** Absent: no upper bound. */
  max?: number;
  /** The slider's step; integer settings use 1. */
  step: number;
  integer: boolean;
}

/**
 * Sigmoid contrast of the class-token map (the reference's `enhance_coe`, default 5, main.py:40-46).
 * Upper bound 20 (the slider's and the setting's, the CLI's and the engine's): sigmoid(20·z) goes
 * from 1 % to 99 % within ±0.23 standard deviations of the mean, so the enhanced class-token map is
 * already nearly a step; larger values have nothing left to show.
 */
export const CONTRAST: NumberBounds = { default: 5, min: 0, max: 20, step: 0.5, integer: false };

/**
 * Box-filter sizes (the reference's `kernel_size`, default 3, main.py:120-128): odd, up to 9 — a
 * 9×9 box already spans more than ViT-B/32's whole 7×7 grid and most of ViT-B/16's 14×14.
 */
export const KERNEL_SIZES = [1, 3, 5, 7, 9] as const;
export const DEFAULT_KERNEL = 3;

/** Gray level the low-relevance regions fade toward (the reference's `--grayscale`, default 0). */
export const GRAY: NumberBounds = { default: 0, min: 0, max: 255, step: 1, integer: true };

export const DEFAULT_INTERPOLATION: Interpolation = 'lanczos3';

/** The heatmap overlay's opacity (for people to look at; not part of the paper). */
export const OPACITY: NumberBounds = { default: 0.5, min: 0, max: 1, step: 0.05, integer: false };

/**
 * Longest side of the preview images the heatmap panel shows. Bounded so a repository's settings
 * can neither break every heatmap (0) nor ship full-resolution pixels into the webview: 4096 covers
 * a 4K screen, and the panel shows three images side by side.
 */
export const PREVIEW_MAX_SIDE: NumberBounds = { default: 1600, min: 256, max: 4096, step: 1, integer: true };

/** ONNX Runtime intra-op threads; 0 = as many as the machine has cores. */
export const THREADS: NumberBounds = { default: 0, min: 0, max: 256, step: 1, integer: true };

/** Minutes before an idle engine process is released; 0 = never. */
export const IDLE_MINUTES: NumberBounds = { default: 10, min: 0, step: 1, integer: false };

/** The mask parameters' defaults, as the reference's command line has them. */
export const MASK_DEFAULTS = {
  contrast: CONTRAST.default,
  kernel: DEFAULT_KERNEL,
  gray: GRAY.default,
  interpolation: DEFAULT_INTERPOLATION,
  opacity: OPACITY.default,
} as const;

// ---- vision-language model endpoint -----------------------------------------------------------

export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/**
 * Where answers come from, one setting (`attentionPrompting.answers.source`): an OpenAI-compatible
 * endpoint, VS Code's language models (Copilot's or any installed provider's; the extension host
 * only), or a local LLaVA-family model in the engine process.
 */
export const ANSWER_SOURCES = ['openai', 'vscode', 'local'] as const;
export type AnswerSourceKind = (typeof ANSWER_SOURCES)[number];
/** VS Code's models need no key; until the user sets the provider, the first ask lets them choose (extension/answerSource.ts). */
export const DEFAULT_ANSWER_SOURCE: AnswerSourceKind = 'vscode';

export const IMAGE_DETAILS = ['auto', 'low', 'high'] as const;
export type ImageDetail = (typeof IMAGE_DETAILS)[number];

export const IMAGE_FORMATS = ['auto', 'png', 'jpeg'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** What the OpenAI-compatible client needs for one request. */
export interface VlmSettings {
  baseURL: string;
  model: string;
  apiKey: string;
  imageDetail: ImageDetail;
  maxTokens: number;
  temperature: number;
  systemPrompt: string;
  /** The longest silence: until the reply starts, and between two pieces of it. */
  timeoutMs: number;
  maxRetries: number;
  /** The whole answer, retries and their waits included (default: VLM_LIMITS.answerTimeoutFactor × timeoutMs). */
  answerTimeoutMs?: number;
  /** The longest wait before a retry, whatever Retry-After asks (default VLM_LIMITS.maxRetryWaitMs). */
  maxRetryWaitMs?: number;
  /** The longest answer kept (default: vlmReply.ts answerCharCap, from maxTokens). */
  maxAnswerChars?: number;
}

/** What the OpenAI-compatible client does with a misbehaving server (see vlm.ts). */
export const VLM_LIMITS = {
  /** Whole answer = this × timeoutMs unless set: 10 min at the default 120 s. */
  answerTimeoutFactor: 5,
  /** One minute: a server asking for longer is refused at once rather than stalling a run. */
  maxRetryWaitMs: 60_000,
  /** A token is rarely over 16 characters, so a longer answer means the server ignored max_tokens. */
  maxCharsPerToken: 16,
  minAnswerChars: 4096,
  /** Backoff without Retry-After: 0.5 s doubling to 8 s, as the SDK's own. */
  initialBackoffMs: 500,
  maxBackoffMs: 8000,
} as const;

/** The client's settings plus how the image is prepared and whether the original is asked too. */
export interface VlmRunSettings extends VlmSettings {
  compareWithOriginal: boolean;
  maxImageSide: number;
  imageFormat: ImageFormat;
}

export const VLM_MAX_TOKENS: NumberBounds = { default: 512, min: 1, step: 1, integer: true };
export const VLM_TEMPERATURE: NumberBounds = { default: 0, min: 0, max: 2, step: 0.1, integer: false };
export const VLM_TIMEOUT_SECONDS: NumberBounds = { default: 120, min: 1, step: 1, integer: false };
export const VLM_MAX_RETRIES: NumberBounds = { default: 2, min: 0, max: 10, step: 1, integer: true };
/** Longest side sent to the VLM (2048 is OpenAI's "high" detail limit). */
export const VLM_MAX_IMAGE_SIDE: NumberBounds = { default: 2048, min: 256, max: 8192, step: 1, integer: true };

export const DEFAULT_VLM_SETTINGS: Omit<VlmRunSettings, 'apiKey'> = {
  baseURL: DEFAULT_BASE_URL,
  model: 'gpt-4o',
  imageDetail: 'auto',
  maxTokens: VLM_MAX_TOKENS.default,
  temperature: VLM_TEMPERATURE.default,
  systemPrompt: '',
  timeoutMs: VLM_TIMEOUT_SECONDS.default * 1000,
  maxRetries: VLM_MAX_RETRIES.default,
  compareWithOriginal: true,
  maxImageSide: VLM_MAX_IMAGE_SIDE.default,
  imageFormat: 'auto',
};

// ---- batch runs ---------------------------------------------------------------------------------

/** VLM requests at once, in the CLI and in Review Folder. */
export const BATCH_CONCURRENCY = 4;
/** A batch retries more than an interactive ask: a long unattended run should ride out a bad minute. */
export const BATCH_MAX_RETRIES = 4;

/**
 * Settings a repository's `.vscode/settings.json` may not set in Restricted Mode (package.json's
 * `capabilities.untrustedWorkspaces.restrictedConfigurations`): where models come from, and the
 * geometry, whose `reference` builds images from the image's aspect ratio (bounded by
 * MAX_INTERMEDIATE_PIXELS, but a repository should not choose that cost).
 */
export const RESTRICTED_SETTINGS = ['clip.model', 'engine.modelCacheDir', 'clip.revision', 'clip.imageGeometry'] as const;

// ---- reading values someone else wrote (settings a repository can set, webview messages) -------

/** Where a value came from and what was used instead, for a log line. */
export type OnInvalid = (name: string, given: unknown, used: unknown) => void;

/**
 * A number within bounds: a number outside them is clamped, anything else (a string, NaN, null)
 * falls back to the default. Integer bounds round.
 */
export function boundedNumber(b: NumberBounds, value: unknown, name = '', onInvalid?: OnInvalid): number {
  if (value === undefined) return b.default;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    onInvalid?.(name, value, b.default);
    return b.default;
  }
  const v = Math.min(b.max ?? Infinity, Math.max(b.min, b.integer ? Math.round(value) : value));
  if (v !== value) onInvalid?.(name, value, v);
  return v;
}

/** One of a list, else the default. */
export function oneOf<T extends string | number>(list: readonly T[], fallback: T, value: unknown, name = '', onInvalid?: OnInvalid): T {
  if (value === undefined) return fallback;
  if ((list as readonly unknown[]).includes(value)) return value as T;
  onInvalid?.(name, value, fallback);
  return fallback;
}

/** Settings read by key (VS Code's `WorkspaceConfiguration.get`, or a plain object in tests). */
export type SettingsGetter = (key: string) => unknown;

export interface ViewSettings {
  contrast: number;
  kernel: number;
  gray: number;
  interpolation: Interpolation;
  /** Block index; null = the model's default (layers − 2). */
  layer: number | null;
  opacity: number;
  /** Where the map comes from: CLIP, or the local LLaVA-style model (`localModel.model`). */
  aux: AuxModel;
}

/**
 * The heatmap view's settings (window-scoped, so a repository's `.vscode/settings.json` can set
 * them, in Restricted Mode too): each clamped to its bounds or replaced by its default. The layer
 * is checked against the model's depth by the engine; here it must be an integer of sane size.
 */
export function readViewSettings(get: SettingsGetter, onInvalid?: OnInvalid): ViewSettings {
  const layer = get('heatmap.layer');
  const validLayer = typeof layer === 'number' && Number.isInteger(layer) && Math.abs(layer) <= 1000;
  if (layer !== undefined && layer !== null && !validLayer) onInvalid?.('heatmap.layer', layer, null);
  return {
    contrast: boundedNumber(CONTRAST, get('heatmap.contrast'), 'heatmap.contrast', onInvalid),
    kernel: oneOf(KERNEL_SIZES, DEFAULT_KERNEL, get('heatmap.smoothingKernel'), 'heatmap.smoothingKernel', onInvalid),
    gray: boundedNumber(GRAY, get('heatmap.grayLevel'), 'heatmap.grayLevel', onInvalid),
    interpolation: oneOf(INTERPOLATIONS, DEFAULT_INTERPOLATION, get('heatmap.maskInterpolation'), 'heatmap.maskInterpolation', onInvalid),
    layer: validLayer ? (layer as number) : null,
    opacity: boundedNumber(OPACITY, get('heatmap.overlayOpacity'), 'heatmap.overlayOpacity', onInvalid),
    aux: oneOf(AUX_MODELS, DEFAULT_AUX, get('heatmap.auxiliaryModel'), 'heatmap.auxiliaryModel', onInvalid),
  };
}

// ---- platforms ----------------------------------------------------------------------------------

/**
 * Replacing a file on Windows: a rename over a file another program holds open (a virus scanner,
 * the search indexer, another window reading it) fails until that program lets go. The rename is
 * retried after a first pause of this many milliseconds, doubling each time…
 */
export const REPLACE_RETRY_FIRST_PAUSE_MS = 10;
/** …for at most this long in all (pauses summed), then the write fails naming the file. */
export const REPLACE_RETRY_TOTAL_MS = 2_000;

/**
 * Stopping the engine process: it is asked to exit over its channel (it may be finishing a write),
 * and killed if it has not after this long. On Windows a kill is immediate (no SIGTERM to handle).
 */
export const ENGINE_STOP_GRACE_MS = 3_000;
