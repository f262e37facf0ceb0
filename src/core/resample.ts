/**
 * Every resize the reference does with PIL, done the way Pillow's Resample.c does it, byte for byte
 * (resample.test.ts compares with PIL itself):
 * - the mask to the image: `Image.resize(image.size, method)` on the 8-bit mask (main.py:20-21,
 *   invtrans; LANCZOS by default, --interpolate_method_name), one band;
 * - the model's input: torchvision's `Resize(s, BICUBIC)` in open_clip's transform (API_CLIP,
 *   create_model_and_transforms) and CLIPImageProcessor's BICUBIC resize (API_LLaVA), both
 *   `PIL.Image.resize(size, BICUBIC)` with no reducing gap, on RGB (modelInput.ts).
 * Per band, as Resample.c's ImagingResampleHorizontal/Vertical_8bpc:
 *
 *   scale = in / out;  filterscale = max(scale, 1);  support = filter support · filterscale
 *   for output pixel i: centre c = (i + 0.5) · scale,
 *     taps j ∈ [trunc(c − support + 0.5), trunc(c + support + 0.5)) ∩ [0, in),
 *     weight w_j = K((j − c + 0.5) / filterscale), normalised to sum 1,
 *     then fixed point: trunc(w_j · 2^22 ± 0.5)
 *   out = clamp(floor((2^21 + Σ_j in_j · w_j) / 2^22), 0, 255), rows first, then columns,
 *   with the rows' result rounded to 8 bits in between.
 *   K: Lanczos (a = 3) sinc(x)·sinc(x/3) on [−3, 3); bicubic (a = −0.5) on [−2, 2); triangle on [−1, 1].
 *   Nearest is Pillow's affine path: in[trunc(scale/2 + i·scale)], the position stepped by addition.
 *
 * sharp is not used here: when enlarging, libvips resamples with its bicubic interpolator
 * whatever kernel is named (lanczos3, cubic and mitchell give identical bytes), and when shrinking
 * its antialiasing is not PIL's support scaling, so neither direction gave the reference's bytes.
 * The sums are Pillow's int32 arithmetic: 22-bit weights leave two bits of headroom over 255 × 2^22.
 */
import type { ResizeFilter } from './defaults';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

const sinc = (x: number) => {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
};

const FILTERS: Record<Exclude<ResizeFilter, 'NEAREST'>, { support: number; at: (x: number) => number }> = {
  LANCZOS: { support: 3, at: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  BICUBIC: {
    support: 2,
    at: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  BILINEAR: {
    support: 1,
    at: (x) => {
      const t = Math.abs(x);
      return t < 1 ? 1 - t : 0;
    },
  },
};

/** For each output index: the first input index, the tap count, and the fixed-point weights. */
export interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  size: number;
}

function filterTaps(inSize: number, outSize: number, filter: (typeof FILTERS)[keyof typeof FILTERS]): Taps {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const size = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * size);
  const w = new Float64Array(size);
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const n = hi - lo;
    let sum = 0;
    for (let j = 0; j < n; j++) {
      w[j] = filter.at((j + lo - centre + 0.5) / filterscale);
      sum += w[j];
    }
    for (let j = 0; j < n; j++) {
      const k = sum !== 0 ? w[j] / sum : w[j];
      weights[i * size + j] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    first[i] = lo;
    count[i] = n;
  }
  return { first, count, weights, size };
}

/** Pillow's clip8: the sum shifted down (arithmetic, so floor), clamped to a byte. */
const clip8 = (v: number) => {
  const q = v >> PRECISION_BITS;
  return q < 0 ? 0 : q > 255 ? 255 : q;
};

/** Resizes a one-band 8-bit image (row-major) from inW×inH to outW×outH as PIL's Image.resize does. */
export function resizeGray(src: Uint8Array, inW: number, inH: number, outW: number, outH: number, method: ResizeFilter): Buffer {
  return resizeBands(src, 1, inW, inH, outW, outH, method);
}

/** The bytes make the stated size, and the output size is a whole number of pixels each way. */
function checkResize(src: Uint8Array, bands: number, inW: number, inH: number, outW: number, outH: number): void {
  if (src.length !== inW * inH * bands) throw new Error(`${src.length} bytes for a ${inW}×${inH} image of ${bands} band(s)`);
  if (!(outW >= 1 && outH >= 1 && Number.isInteger(outW) && Number.isInteger(outH))) throw new Error(`cannot resize to ${outW}×${outH}`);
}

/**
 * Resizes an interleaved 8-bit image of `bands` bands (RGB: 3) from inW×inH to outW×outH as PIL's
 * Image.resize(size, method) does for that mode (reducing_gap None, the default).
 */
export function resizeBands(src: Uint8Array, bands: number, inW: number, inH: number, outW: number, outH: number, method: ResizeFilter): Buffer {
  checkResize(src, bands, inW, inH, outW, outH);
  if (outW === inW && outH === inH) return Buffer.from(src);
  if (method === 'NEAREST') return nearest(src, bands, inW, inH, outW, outH);
  const filter = FILTERS[method];
  // Rows first (only where the width changes), rounded to 8 bits, then columns (Resample.c's order).
  const rows = outW !== inW ? horizontal(src, bands, inW, inH, outW, filterTaps(inW, outW, filter)) : src;
  if (outH === inH) return Buffer.from(rows.buffer, rows.byteOffset, rows.length);
  return vertical(rows, bands, outW, outH, filterTaps(inH, outH, filter));
}

/** A horizontal pass to run: every row of `src` through `taps`, into outW × inH × bands bytes. */
export interface RowJob {
  src: Uint8Array;
  bands: number;
  inW: number;
  inH: number;
  outW: number;
  taps: Taps;
}

/**
 * resizeBands with its horizontal pass (nearly all of the work when shrinking a photo) handed to
 * `runRows`, which may split the rows over threads (rowWorkers.ts): the same bytes either way.
 */
export async function resizeBandsWith(
  runRows: (job: RowJob) => Promise<Uint8Array>,
  src: Uint8Array,
  bands: number,
  inW: number,
  inH: number,
  outW: number,
  outH: number,
  method: ResizeFilter,
): Promise<Buffer> {
  if (method === 'NEAREST' || outW === inW) return resizeBands(src, bands, inW, inH, outW, outH, method);
  checkResize(src, bands, inW, inH, outW, outH);
  const filter = FILTERS[method];
  const rows = await runRows({ src, bands, inW, inH, outW, taps: filterTaps(inW, outW, filter) });
  if (outH === inH) return Buffer.from(rows.buffer, rows.byteOffset, rows.length);
  return vertical(rows, bands, outW, outH, filterTaps(inH, outH, filter));
}

/** Pillow's ImagingScaleAffine: positions stepped by repeated addition from half a step, truncated. */
function nearest(src: Uint8Array, bands: number, inW: number, inH: number, outW: number, outH: number): Buffer {
  const out = Buffer.allocUnsafe(outW * outH * bands);
  const sx = inW / outW;
  const sy = inH / outH;
  const column = new Int32Array(outW);
  for (let x = 0, at = sx * 0.5; x < outW; x++, at += sx) column[x] = Math.min(Math.trunc(at), inW - 1) * bands;
  let o = 0;
  for (let y = 0, at = sy * 0.5; y < outH; y++, at += sy) {
    const row = Math.min(Math.trunc(at), inH - 1) * inW * bands;
    for (let x = 0; x < outW; x++) for (let b = 0; b < bands; b++) out[o++] = src[row + column[x] + b];
  }
  return out;
}

function horizontal(src: Uint8Array, bands: number, inW: number, inH: number, outW: number, h: Taps): Buffer {
  const out = Buffer.allocUnsafe(outW * inH * bands);
  horizontalRows(src, bands, inW, 0, inH, outW, h.first, h.count, h.weights, h.size, out);
  return out;
}

/**
 * The horizontal pass over rows [from, to): self-contained (no outer names, its constants
 * written out) because rowWorkers.ts runs its source text in worker threads as well.
 */
export function horizontalRows(
  src: Uint8Array,
  bands: number,
  inW: number,
  from: number,
  to: number,
  outW: number,
  first: Int32Array,
  count: Int32Array,
  weights: Int32Array,
  size: number,
  out: Uint8Array,
): void {
  // HALF = 2^21 and the shift 22 are PRECISION_BITS's; clip as Pillow's clip8.
  for (let y = from; y < to; y++) {
    const line = y * inW * bands;
    let o = y * outW * bands;
    for (let x = 0; x < outW; x++) {
      const base = x * size;
      const n = count[x];
      let at = line + first[x] * bands;
      if (bands === 3) {
        // The common case unrolled: three sums over the same taps.
        let r = 2097152;
        let g = 2097152;
        let b = 2097152;
        for (let j = 0; j < n; j++, at += 3) {
          const w = weights[base + j];
          r = (r + src[at] * w) | 0;
          g = (g + src[at + 1] * w) | 0;
          b = (b + src[at + 2] * w) | 0;
        }
        r >>= 22;
        g >>= 22;
        b >>= 22;
        out[o++] = r < 0 ? 0 : r > 255 ? 255 : r;
        out[o++] = g < 0 ? 0 : g > 255 ? 255 : g;
        out[o++] = b < 0 ? 0 : b > 255 ? 255 : b;
      } else {
        for (let c = 0; c < bands; c++) {
          let acc = 2097152;
          for (let j = 0, p = at + c; j < n; j++, p += bands) acc = (acc + src[p] * weights[base + j]) | 0;
          acc >>= 22;
          out[o++] = acc < 0 ? 0 : acc > 255 ? 255 : acc;
        }
      }
    }
  }
}

function vertical(rows: Uint8Array, bands: number, outW: number, outH: number, v: Taps): Buffer {
  const stride = outW * bands;
  const out = Buffer.allocUnsafe(stride * outH);
  // Tap by tap over whole rows: the same sums in the same order per pixel, read row after row.
  const acc = new Int32Array(stride);
  for (let y = 0; y < outH; y++) {
    const base = y * v.size;
    const lo = v.first[y];
    acc.fill(HALF);
    for (let j = 0; j < v.count[y]; j++) {
      const w = v.weights[base + j];
      const line = (lo + j) * stride;
      for (let x = 0; x < stride; x++) acc[x] = (acc[x] + rows[line + x] * w) | 0;
    }
    const at = y * stride;
    for (let x = 0; x < stride; x++) out[at + x] = clip8(acc[x]);
  }
  return out;
}
