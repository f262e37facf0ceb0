/**
 * The schema of `attention-prompt mask --json`: what other tools read (row-major, row 0 at the top of the image):
 *   grid      [rows, cols] of the low-resolution maps
 *   clsMap    minmax(Ψcls), before enhancement
 *   patchMap  inverted minmax(Ψtok), before smoothing
 *   mask      the final merged mask in [0, 1], before resizing
 *   model, layer, tokens (before truncation), truncated
 */
import type { Attribution } from './engine';

export interface AttributionJson {
  grid: [number, number];
  clsMap: number[];
  patchMap: number[];
  mask: number[];
  model: string;
  layer: number;
  tokens: number;
  truncated: boolean;
  geometry: string;
  contrast: number;
  kernel: number;
  degenerate: boolean;
}

/** Seven significant digits: float32 precision, half the bytes of full doubles. */
const compact = (x: Float64Array) => Array.from(x, (v) => Number(v.toPrecision(7)));

export function attributionJson(a: Attribution): AttributionJson {
  return {
    grid: a.grid,
    clsMap: compact(a.clsMap),
    patchMap: compact(a.patchMap),
    mask: compact(a.mask),
    model: a.model,
    layer: a.layer,
    tokens: a.text.tokens,
    truncated: a.text.truncated,
    geometry: a.geometry,
    contrast: a.maskParameters.contrast,
    kernel: a.maskParameters.kernel,
    degenerate: a.degenerate,
  };
}
