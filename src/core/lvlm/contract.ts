/**
 * The `--json` contract of `mask --aux lvlm` (row-major, row 0 at the top of the image):
 *   aux        "lvlm"
 *   grid       [rows, cols] of the vision grid
 *   rawMap     mean over the decoding steps of the head-averaged image-token attention (hook.py:61-64)
 *   mask       revise_mask(rawMap) in [0, 1], before resizing
 *   generatedText, generatedTokens, stopReason, steps: the generation the map was taken from
 *   model, layer, numLayers, geometry, contrast, kernel, degenerate
 */
import type { LvlmMap } from './localVlm';
import type { MaskParameters } from '../maskParameters';

export interface LvlmJson {
  aux: 'lvlm';
  grid: [number, number];
  rawMap: number[];
  mask: number[];
  generatedText: string;
  generatedTokens: number;
  stopReason: string;
  steps: number;
  model: string;
  layer: number;
  numLayers: number;
  geometry: string;
  contrast: number;
  kernel: number;
  degenerate: boolean;
}

const compact = (x: Float64Array) => Array.from(x, (v) => Number(v.toPrecision(7)));

export function lvlmJson(m: LvlmMap, p: MaskParameters): LvlmJson {
  return {
    aux: 'lvlm',
    grid: m.grid,
    rawMap: compact(m.raw),
    mask: compact(m.mask),
    generatedText: m.text,
    generatedTokens: m.generatedIds.length,
    stopReason: m.stopReason,
    steps: m.steps.length,
    model: m.model,
    layer: m.layer,
    numLayers: m.numLayers,
    geometry: m.geometry,
    contrast: p.contrast,
    kernel: p.kernel,
    degenerate: m.degenerate,
  };
}
