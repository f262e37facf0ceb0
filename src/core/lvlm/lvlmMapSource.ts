/**
 * The LVLM map as a map source for dataset review and the engine process: the same shape as the
 * CLIP engine's (model name, layer, attribute, dispose), so `batch --aux lvlm` and the heatmap
 * panel's "Auxiliary model: lvlm" run through the same code as CLIP. A hint has no meaning here:
 * the map is read while the model answers the question itself (API_LLaVA).
 */
import type { AttributionRequest, StageTimings } from '../engine';
import type { DecodedImage } from '../image';
import { type MaskParameters, checkMaskParameters } from '../maskParameters';
import { AttentionPromptError } from '../errors';
import { LocalVlm } from './localVlm';
import { DEFAULT_LVLM_MASK_PARAMETERS, reviseMask } from './decoderAttentionMap';

export interface LvlmAttribution {
  grid: [number, number];
  /** Mean over the steps of the head-averaged image-token attention, row-major. */
  raw: Float64Array;
  mask: Float64Array;
  maskParameters: MaskParameters;
  degenerate: boolean;
  /** The text generated while the map was taken. */
  text: string;
  timings: StageTimings;
  /** revise_mask(raw) under other parameters: no model pass. */
  remask(p: MaskParameters): Float64Array;
}

export class LvlmMapSource {
  private constructor(
    readonly vlm: LocalVlm,
    readonly layer: number,
    readonly numLayers: number,
    private readonly ownsModel: boolean,
  ) {}

  /** Prepares `vlm` for maps (loads it, prepares the decoder); `ownsModel`: dispose() releases it. */
  static async load(vlm: LocalVlm, ownsModel: boolean): Promise<LvlmMapSource> {
    try {
      const { layer, numLayers } = await vlm.prepareMap();
      return new LvlmMapSource(vlm, layer, numLayers, ownsModel);
    } catch (e) {
      if (ownsModel) await vlm.dispose();
      throw e;
    }
  }

  /** The decoder layer is fixed when the model is prepared: another one is refused, not silently replaced. */
  resolveLayer(requested?: number): number {
    if (requested === undefined) return this.layer;
    const layer = requested < 0 ? this.numLayers + requested : requested;
    if (layer !== this.layer) {
      throw new AttentionPromptError('bad-parameter', `The local model was prepared for decoder layer ${this.layer} of ${this.numLayers}; layer ${requested} needs it loaded again for that layer.`);
    }
    return layer;
  }

  get modelName(): string {
    return this.vlm.label.model;
  }

  async attribute(image: DecodedImage, req: AttributionRequest): Promise<LvlmAttribution> {
    const maskParameters: MaskParameters = { ...DEFAULT_LVLM_MASK_PARAMETERS, ...req.mask };
    // Before the model pass: a bad value costs nothing.
    checkMaskParameters(maskParameters);
    const map = await this.vlm.lvlmMap({ image, question: req.question, geometry: req.geometry, mask: maskParameters, signal: req.signal });
    const [rows, cols] = map.grid;
    return {
      grid: map.grid,
      raw: map.raw,
      mask: map.mask,
      maskParameters,
      degenerate: map.degenerate,
      text: map.text,
      timings: { lvlmMap: map.elapsedMs },
      remask: (p) => reviseMask(map.raw, rows, cols, p).mask,
    };
  }

  async dispose(): Promise<void> {
    if (this.ownsModel) await this.vlm.dispose();
  }
}
