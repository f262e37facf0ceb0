/** What a batch run is asked to do (runBatch's options) and what it reports while it runs. */
import type { AnswerProvider } from '../answerProvider';
import type { AuxModel, Geometry, ImageFormat, Interpolation, VlmRunSettings } from '../defaults';
import type { EngineOptions } from '../engine';
import type { PixelBudget } from '../image';
import type { LocalVlm } from '../lvlm/localVlm';
import type { MaskParameters } from '../maskParameters';
import type { Metric } from './scoring';
import type { Shard } from './shards';
import type { SweepAxes } from './sweep';

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
