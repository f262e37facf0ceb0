/**
 * The reference's API_LLaVA map (yu-rp/apiprompting, API/API_LLaVA), from decoder scores to the
 * low-resolution mask. Line numbers: hook.py, main.py of API/API_LLaVA.
 *
 *   per forward pass of generate() (the prefill, then each generated token fed back with the cache):
 *     s      = layer L's scores after the causal mask, last query row          modeling_llama.py:348-349, hook.py:48
 *     a_h[m] = softmax over the image-token columns m of s_h                   hook.py:49
 *     step   = mean over heads h of a_h                                         hook.py:50
 *   raw = mean over the steps                                                   hook.py:61-64
 *   grid: raw reshaped row-major to the vision grid (24×24 for LLaVA-1.5)       functions.py:138
 *   revise_mask (main.py:55-70), with blend_mask's arguments (main.py:72-75, 100-101):
 *     minmax → enhance(coe = 5) → k×k box filter (k = 3, replicate padding); no patch map, no soft-OR
 */
import { boxFilter, enhance, minmax } from '../maps';
import type { MaskParameters } from '../maskParameters';

/** The reference's stopping rule (functions.py:118-123, main.py:144): EOS or 20 new tokens. */
export const LVLM_MAX_NEW_TOKENS = 20;

/** blend_mask as main.py calls it: enhance_coe 5, kernel_size 3 (main.py:100-101). */
export const DEFAULT_LVLM_MASK_PARAMETERS: MaskParameters = { contrast: 5, kernel: 3 };

/**
 * The gray level the reference script actually blends with: merge()'s default grap_scale = 200
 * (main.py:30-35). blend_mask calls merge without it (main.py:85), so `--grayscale` (main.py:102,
 * default 0) is parsed but never used.
 */
export const LVLM_REFERENCE_GRAY = 200;

/**
 * One step's map from layer L's scores [1, heads, q, kv] (row-major): the last query row, restricted
 * to the image-token columns, soft-maxed there, averaged over heads.  hook.py:44-51
 */
export function stepMap(scores: ArrayLike<number>, dims: readonly number[], imagePositions: readonly number[]): Float64Array {
  if (dims.length !== 4 || dims[0] !== 1) throw new Error(`expected attention scores [1, heads, q, kv], got [${dims.join(', ')}]`);
  const [, heads, q, kv] = dims;
  const n = imagePositions.length;
  for (const p of imagePositions) if (p < 0 || p >= kv) throw new Error(`image position ${p} outside the ${kv} keys`);
  const out = new Float64Array(n);
  const row = new Float64Array(n);
  for (let h = 0; h < heads; h++) {
    const base = (h * q + (q - 1)) * kv;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      row[i] = scores[base + imagePositions[i]];
      if (row[i] > max) max = row[i];
    }
    let sum = 0;
    for (let i = 0; i < n; i++) sum += row[i] = Math.exp(row[i] - max);
    for (let i = 0; i < n; i++) out[i] += row[i] / sum / heads;
  }
  return out;
}

/** Mean over the collected steps. hook.py:61-64 */
export function meanOfSteps(steps: readonly Float64Array[]): Float64Array {
  if (steps.length === 0) throw new Error('no decoding step was collected');
  const out = new Float64Array(steps[0].length);
  for (const s of steps) for (let i = 0; i < out.length; i++) out[i] += s[i];
  for (let i = 0; i < out.length; i++) out[i] /= steps.length;
  return out;
}

/**
 * revise_mask (main.py:55-70): minmax (normalize "min", main.py:42-43, 57), sigmoid contrast
 * (enhance, main.py:47-53, 58; unbiased std), box filter with replicate padding (main.py:60-66).
 * A constant raw map (no information) gives an all-ones mask: keep the whole image.
 */
export function reviseMask(raw: Float64Array, rows: number, cols: number, p: MaskParameters = DEFAULT_LVLM_MASK_PARAMETERS): { mask: Float64Array; degenerate: boolean } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of raw) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(max > min)) return { mask: new Float64Array(raw.length).fill(1), degenerate: true };
  return { mask: boxFilter(enhance(minmax(raw), p.contrast), rows, cols, p.kernel), degenerate: false };
}

/** The image tokens must form one square grid (LLaVA-1.5: 576 = 24×24); tiling schemes do not. */
export function squareGrid(imageTokens: number): number | undefined {
  const side = Math.round(Math.sqrt(imageTokens));
  return side > 0 && side * side === imageTokens ? side : undefined;
}
