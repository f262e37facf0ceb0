/**
 * From the two raw scores to the final low-resolution mask, step by step as the reference does
 * (yu-rp/apiprompting, API/API_CLIP/main.py; line numbers below refer to that file).
 * Maps are row-major Float64Arrays of size rows × cols, row 0 at the top of the image.
 */
import { CONTRAST, DEFAULT_KERNEL } from './defaults';
import type { MaskParameters } from './maskParameters';

export const DEFAULT_MASK_PARAMETERS: MaskParameters = { contrast: CONTRAST.default, kernel: DEFAULT_KERNEL };

function extent(x: Float64Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of x) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/**
 * normalize(mat, "min") = (mat − min) / (max − min)            — main.py:35-36
 * A constant map (max = min) has no information; the reference divides by zero (NaN). We return
 * zeros so the other map decides, and callers can flag it.
 */
export function minmax(x: Float64Array): Float64Array {
  const { min, max } = extent(x);
  const range = max - min;
  const out = new Float64Array(x.length);
  if (!(range > 0)) return out;
  for (let i = 0; i < x.length; i++) out[i] = (x[i] - min) / range;
  return out;
}

/** normalize(mat, "max") = (max − mat) / (max − min): the inverted patch map — main.py:33-34 */
export function invertedMinmax(x: Float64Array): Float64Array {
  const { min, max } = extent(x);
  const range = max - min;
  const out = new Float64Array(x.length);
  if (!(range > 0)) return out;
  for (let i = 0; i < x.length; i++) out[i] = (max - x[i]) / range;
  return out;
}

/**
 * enhance(mat, coe) = clamp(sigmoid(coe · (mat − mean) / std), 0, 1)   — main.py:40-46
 * std is torch's default: unbiased (divides by n − 1). A constant map has std 0: z = 0 → 0.5.
 */
export function enhance(x: Float64Array, contrast: number): Float64Array {
  const n = x.length;
  let mean = 0;
  for (const v of x) mean += v;
  mean /= n;
  let ss = 0;
  for (const v of x) ss += (v - mean) * (v - mean);
  const std = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const z = std > 0 ? (x[i] - mean) / std : 0;
    const s = 1 / (1 + Math.exp(-contrast * z));
    out[i] = Math.min(1, Math.max(0, s));
  }
  return out;
}

/**
 * Box filter of odd size k with replicate padding: Conv2d(1,1,k, padding=(k−1)/2,
 * padding_mode="replicate"), weights 1/k² — main.py:120-128.
 * out[r,c] = (1/k²) Σ_{|dr|,|dc| ≤ (k−1)/2} x[clamp(r+dr), clamp(c+dc)]
 */
export function boxFilter(x: Float64Array, rows: number, cols: number, k: number): Float64Array {
  if (!Number.isInteger(k) || k < 1 || k % 2 === 0) throw new RangeError(`kernel must be a positive odd integer, got ${k}`);
  const h = (k - 1) / 2;
  const out = new Float64Array(rows * cols);
  const clamp = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      for (let dr = -h; dr <= h; dr++) {
        const rr = clamp(r + dr, rows - 1) * cols;
        for (let dc = -h; dc <= h; dc++) sum += x[rr + clamp(c + dc, cols - 1)];
      }
      out[r * cols + c] = sum / (k * k);
    }
  }
  return out;
}

/** Soft OR of two maps in [0, 1]: c + p − c·p — main.py:130 */
export function softOr(c: Float64Array, p: Float64Array): Float64Array {
  const out = new Float64Array(c.length);
  for (let i = 0; i < c.length; i++) out[i] = c[i] + p[i] - c[i] * p[i];
  return out;
}

export interface MergedMaps {
  /** minmax(Ψcls), before enhancement. */
  clsMap: Float64Array;
  /** invertedMinmax(Ψtok), before smoothing. */
  patchMap: Float64Array;
  /** The final merged mask in [0, 1], before resizing. */
  mask: Float64Array;
  /** True when a map was constant (no information; the reference would produce NaN). */
  degenerate: boolean;
}

/**
 * merge_mask — main.py:114-132:
 *   cls   = box(enhance(minmax(Ψcls), coe))
 *   patch = box(invertedMinmax(Ψtok))
 *   mask  = minmax(cls + patch − cls·patch)
 * If even the merged map is constant, the mask is all ones: keep the whole image rather than
 * fade it all to gray.
 */
export function mergeMaps(psiCls: Float64Array, psiTok: Float64Array, rows: number, cols: number, p: MaskParameters): MergedMaps {
  const clsMap = minmax(psiCls);
  const patchMap = invertedMinmax(psiTok);
  const cls = boxFilter(enhance(clsMap, p.contrast), rows, cols, p.kernel);
  const patch = boxFilter(patchMap, rows, cols, p.kernel);
  const merged = softOr(cls, patch);
  const { min, max } = extent(merged);
  const degenerate = !(extent(psiCls).max > extent(psiCls).min) || !(extent(psiTok).max > extent(psiTok).min);
  const mask = max > min ? minmax(merged) : new Float64Array(merged.length).fill(1);
  return { clsMap, patchMap, mask, degenerate: degenerate || !(max > min) };
}
