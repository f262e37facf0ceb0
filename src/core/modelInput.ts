/**
 * The square RGB input a model sees, made from a decoded image the way the reference makes it,
 * with PIL's resize (resample.ts) so the pixels are the reference's byte for byte:
 *
 * CLIP (API_CLIP: open_clip's transform, Resize(s, BICUBIC) then CenterCrop(s), then RGB):
 *   `reference`: shorter side → s, longer side → int(s · long / short) (torchvision's
 *                _compute_resized_output_size), PIL BICUBIC, in the mode PIL opened the image in,
 *                converted to RGB after the crop: NEAREST for a palette or 1-bit image (modes P and
 *                1: Image.resize falls back to NEAREST), premultiplied by alpha for RGBA; then the centre crop at
 *                left = int(round((w − s) / 2)), top = int(round((h − s) / 2)), Python's round
 *                (half to even), as torchvision's center_crop.
 *   `full`:      the whole image → s × s, PIL BICUBIC (this project's geometry: no crop).
 * LLaVA (API_LLaVA: process_images with image_aspect_ratio "pad", then CLIPImageProcessor):
 *   `reference`: expand2square — a side × side canvas of int(mean · 255) with the image pasted at
 *                ((side − w) // 2, (side − h) // 2) — then → s × s, PIL BICUBIC (the processor's
 *                shortest-edge resize of a square; its centre crop is then the identity).
 *   `full`:      the whole image → s × s, PIL BICUBIC.
 */
import type { Geometry } from './defaults';
import type { DecodedImage } from './image';
import { checkIntermediateSize } from './intermediateSize';
import { resizeBandsParallel } from './rowWorkers';

/** A square RGB image, interleaved, `size` pixels a side. */
export interface SquareInput {
  rgb: Buffer;
  size: number;
}

/** Python 3's round(): halves go to the even neighbour (round(2.5) = 2), unlike Math.round. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** torchvision's Resize(s) on a PIL image: the output size, width and height. */
export function shorterSideTo(width: number, height: number, s: number): { width: number; height: number } {
  // int(requested_new_short * long / short): the product first, then the division, then truncation.
  if (width <= height) return { width: s, height: Math.trunc((s * height) / width) };
  return { width: Math.trunc((s * width) / height), height: s };
}

async function squash(img: DecodedImage, s: number): Promise<SquareInput> {
  return { rgb: await resizeBandsParallel(img.rgb, 3, img.width, img.height, s, s, 'BICUBIC'), size: s };
}

/**
 * PIL's resize of an RGBA image (Image.resize: RGBA → RGBa, resize, → RGBA), its colour then taken
 * as convert('RGB') takes it. Convert.c's premultiply: c' = MULDIV255(c, a) = (t + (t >> 8)) >> 8,
 * t = c·a + 128; and back: c = min(255, (255·c') // a) where 0 < a < 255, c' unchanged otherwise.
 */
async function resizePremultiplied(rgb: Buffer, alpha: Buffer, width: number, height: number, w: number, h: number): Promise<Buffer> {
  const pixels = width * height;
  const rgba = Buffer.allocUnsafe(pixels * 4);
  for (let i = 0; i < pixels; i++) {
    const a = alpha[i];
    for (let c = 0; c < 3; c++) {
      const t = rgb[i * 3 + c] * a + 128;
      rgba[i * 4 + c] = ((t >> 8) + t) >> 8;
    }
    rgba[i * 4 + 3] = a;
  }
  const resized = await resizeBandsParallel(rgba, 4, width, height, w, h, 'BICUBIC');
  const out = Buffer.allocUnsafe(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const a = resized[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const v = resized[i * 4 + c];
      out[i * 3 + c] = a === 0 || a === 255 ? v : Math.min(255, Math.floor((255 * v) / a));
    }
  }
  return out;
}

/** CLIP's input for an image under a geometry (see the file's comment). */
export async function clipInput(img: DecodedImage, s: number, geometry: Geometry): Promise<SquareInput> {
  if (geometry === 'full') return squash(img, s);
  const { width: w, height: h } = shorterSideTo(img.width, img.height, s);
  checkIntermediateSize(img, w, h, `geometry "reference" scales its shorter side to ${s} px, which`);
  const resized = img.info?.indexed
    ? await resizeBandsParallel(img.rgb, 3, img.width, img.height, w, h, 'NEAREST')
    : img.alpha
      ? await resizePremultiplied(img.rgb, img.alpha, img.width, img.height, w, h)
      : await resizeBandsParallel(img.rgb, 3, img.width, img.height, w, h, 'BICUBIC');
  const left = roundHalfEven((w - s) / 2);
  const top = roundHalfEven((h - s) / 2);
  if (left === 0 && top === 0 && w === s && h === s) return { rgb: resized, size: s };
  const rgb = Buffer.allocUnsafe(s * s * 3);
  for (let y = 0; y < s; y++) resized.copy(rgb, y * s * 3, ((top + y) * w + left) * 3, ((top + y) * w + left + s) * 3);
  return { rgb, size: s };
}

/** LLaVA's input for an image under a geometry; `mean` is the processor's image_mean (0–1). */
export async function llavaInput(img: DecodedImage, s: number, geometry: Geometry, mean: readonly number[]): Promise<SquareInput> {
  if (geometry === 'full') return squash(img, s);
  const side = Math.max(img.width, img.height);
  checkIntermediateSize(img, side, side, `geometry "reference" pads it to a square (LLaVA's expand2square) before scaling to ${s} px, which`);
  const background = mean.slice(0, 3).map((v) => Math.trunc(v * 255));
  const canvas = Buffer.allocUnsafe(side * side * 3);
  for (let i = 0; i < side * side; i++) {
    canvas[i * 3] = background[0];
    canvas[i * 3 + 1] = background[1];
    canvas[i * 3 + 2] = background[2];
  }
  const left = Math.floor((side - img.width) / 2);
  const top = Math.floor((side - img.height) / 2);
  const row = img.width * 3;
  for (let y = 0; y < img.height; y++) img.rgb.copy(canvas, ((top + y) * side + left) * 3, y * row, (y + 1) * row);
  return { rgb: await resizeBandsParallel(canvas, 3, side, side, s, s, 'BICUBIC'), size: s };
}
