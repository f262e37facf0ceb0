/**
 * Where a batch run's maps come from: CLIP's engine, or the local LLaVA-style model (--aux lvlm),
 * behind one interface; and a map re-made under another sweep setting's mask parameters without
 * another model pass.
 */
import { BATCH_SPIN_WAIT } from '../defaults';
import { Attribution, AttentionPromptEngine, AttributionRequest, EngineOptions, StageTimings } from '../engine';
import { AttentionPromptError } from '../errors';
import type { DecodedImage } from '../image';
import { LocalVlm } from '../lvlm/localVlm';
import { LvlmMapSource } from '../lvlm/lvlmMapSource';
import { mergeMaps } from '../maps';
import { type MaskParameters, checkMaskParameters } from '../maskParameters';

/** One item's map: CLIP's attribution, or the LVLM map (which re-makes its mask with `remask`). */
export type BatchMap = Pick<Attribution, 'grid' | 'mask' | 'timings' | 'maskParameters'> &
  Partial<Pick<Attribution, 'psiCls' | 'psiTok'>> & { remask?: (p: MaskParameters) => Float64Array };

/** What the runner needs of its map source: CLIP's engine, or LvlmMapSource (--aux lvlm). */
export interface MapSource {
  readonly modelName: string;
  readonly layer: number;
  /** The layer a requested one stands for (undefined: the default; negative counts from the end). */
  resolveLayer(requested?: number): number;
  attribute(image: DecodedImage, req: AttributionRequest): Promise<BatchMap & { timings: StageTimings }>;
  dispose(): Promise<void>;
}

/** What loading a map source needs of the run. */
export interface MapSourceOptions {
  engine: EngineOptions;
  aux?: 'clip' | 'lvlm';
  /** With aux lvlm: the local model already held, used for the maps instead of a second copy. */
  lvlm?: LocalVlm;
}

/** The run's map source for `layer` (undefined: the requested one): CLIP's engine, or the local LVLM. */
export async function loadMapSource(opts: MapSourceOptions, layer: number | undefined, mapTexts: string[]): Promise<MapSource> {
  const engine = layer !== undefined ? { ...opts.engine, layer } : opts.engine;
  if (opts.aux === 'lvlm') return layer === undefined && opts.lvlm ? LvlmMapSource.load(opts.lvlm, false) : LvlmMapSource.load(new LocalVlm(engine), true);
  return AttentionPromptEngine.load({ spinWait: BATCH_SPIN_WAIT, expectQuestions: mapTexts, ...engine });
}

/** A map whose mask is re-made from its raw scores under other mask parameters (no model pass). */
export function withMask(a: BatchMap, mask: MaskParameters): BatchMap {
  if (a.maskParameters.contrast === mask.contrast && a.maskParameters.kernel === mask.kernel) return a;
  checkMaskParameters(mask);
  if (a.remask) return { ...a, mask: a.remask(mask), maskParameters: mask };
  if (!a.psiCls || !a.psiTok) throw new AttentionPromptError('internal', 'This map cannot be re-made under other mask parameters.');
  return { ...a, ...mergeMaps(a.psiCls, a.psiTok, a.grid[0], a.grid[1], mask), maskParameters: mask };
}
