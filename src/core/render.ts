/**
 * Full-resolution outputs: the mask resized to the image (as PIL resizes it), the masked image
 * blended toward a gray level, and a colourised heatmap overlay for people to look at.
 * Reference: yu-rp/apiprompting API/API_CLIP/main.py, blend_mask (134-143), invtrans (20-21), merge (23-30).
 */
import * as path from 'node:path';
import sharp from 'sharp';
import { AttentionPromptError } from './errors';
import { DecodedImage, fromDecoded } from './image';
import { Interpolation, OPACITY, PIL_FILTER } from './defaults';
import { resizeGray } from './resample';
import { checkMaskParameters } from './maskParameters';

/** Accepts ours and PIL's names (the reference's --interpolate_method_name). */
export function parseInterpolation(name: string): Interpolation {
  const n = name.toLowerCase();
  const alias: Record<string, Interpolation> = {
    lanczos3: 'lanczos3', lanczos: 'lanczos3', cubic: 'cubic', bicubic: 'cubic',
    linear: 'linear', bilinear: 'linear', nearest: 'nearest',
  };
  const k = alias[n];
  // An unknown name is refused with the message every caller uses.
  if (!k) checkMaskParameters({ interpolation: name });
  return k;
}

export interface RenderParameters {
  interpolation: Interpolation;
  /** Gray level 0–255 that low-relevance regions fade toward (the reference's --grayscale, default 0). */
  gray: number;
}

/**
 * The low-resolution mask as an 8-bit image. The reference converts with ToPILImage, i.e.
 * byte(255·m), which truncates (main.py:136); so do we.
 */
export function maskToBytes(mask: Float64Array): Buffer {
  const out = Buffer.alloc(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = Math.max(0, Math.min(255, Math.floor(mask[i] * 255)));
  return out;
}

/**
 * The mask resized to the image with the chosen interpolation as PIL resizes it (main.py:137,
 * invtrans: `mask.resize(image.size, method)`), byte for byte; see resample.ts.
 */
export async function fullResolutionMask(mask: Float64Array, rows: number, cols: number, width: number, height: number, interpolation: Interpolation): Promise<Buffer> {
  return resizeGray(maskToBytes(mask), cols, rows, width, height, PIL_FILTER[interpolation]);
}

/**
 * masked = image · m + (1 − m) · gray, with m = mask/255 (main.py:28), in one pass over the
 * pixels: floor((p·a + gray·(255 − a)) / 255) in integers, which is exactly what libvips' flatten
 * of "image with alpha a over gray" computes (checked for every p, a and gray by render.test.ts),
 * without the RGBA copy and the second pipeline. A fractional gray keeps the sharp pipelines.
 */
export async function maskedImage(img: DecodedImage, fullMask: Buffer, gray: number): Promise<sharp.Sharp> {
  if (!(gray >= 0 && gray <= 255)) throw new AttentionPromptError('bad-parameter', `Gray level must be 0–255, got ${gray}.`);
  if (!Number.isInteger(gray)) return maskedImageWithSharp(img, fullMask, gray);
  return sharp(blendTowardGray(img.rgb, fullMask, gray), { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false });
}

/** The blend itself: 8-bit RGB and an 8-bit mask of the same size, integer gray. */
export function blendTowardGray(rgb: Buffer, fullMask: Buffer, gray: number): Buffer {
  if (rgb.length !== fullMask.length * 3) throw new Error(`the mask has ${fullMask.length} pixels, the image ${rgb.length / 3}`);
  const out = Buffer.allocUnsafe(rgb.length);
  // gray·(255 − a) for each a, once.
  const background = new Uint32Array(256);
  for (let a = 0; a < 256; a++) background[a] = gray * (255 - a);
  for (let i = 0, j = 0; i < fullMask.length; i++, j += 3) {
    const a = fullMask[i];
    const g = background[a];
    out[j] = ((rgb[j] * a + g) / 255) | 0;
    out[j + 1] = ((rgb[j + 1] * a + g) / 255) | 0;
    out[j + 2] = ((rgb[j + 2] * a + g) / 255) | 0;
  }
  return out;
}

/** The same blend as "image with alpha m, flattened onto gray" with sharp (any gray level). */
export async function maskedImageWithSharp(img: DecodedImage, fullMask: Buffer, gray: number): Promise<sharp.Sharp> {
  // Two pipelines: sharp orders operations itself and would flatten before joining the channel.
  const rgba = await fromDecoded(img).joinChannel(fullMask, { raw: { width: img.width, height: img.height, channels: 1 } }).raw().toBuffer();
  return sharp(rgba, { raw: { width: img.width, height: img.height, channels: 4 } }).flatten({ background: { r: gray, g: gray, b: gray } });
}

/** Viridis (perceptually uniform, colour-blind safe), sampled at 0, 0.1, …, 1. */
const VIRIDIS_STOPS = [
  [0x44, 0x01, 0x54], [0x48, 0x24, 0x75], [0x41, 0x44, 0x87], [0x35, 0x5f, 0x8d], [0x2a, 0x78, 0x8e], [0x21, 0x91, 0x8c],
  [0x22, 0xa8, 0x84], [0x44, 0xbf, 0x70], [0x7a, 0xd1, 0x51], [0xbd, 0xdf, 0x26], [0xfd, 0xe7, 0x25],
];

/** 256-entry RGB lookup table, linear between the stops. */
export const VIRIDIS_LUT: Uint8Array = (() => {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (VIRIDIS_STOPS.length - 1);
    const j = Math.min(Math.floor(x), VIRIDIS_STOPS.length - 2);
    const f = x - j;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(VIRIDIS_STOPS[j][c] * (1 - f) + VIRIDIS_STOPS[j + 1][c] * f);
  }
  return lut;
})();

function checkOpacity(opacity: number): void {
  if (!(opacity >= 0 && opacity <= 1)) throw new AttentionPromptError('bad-parameter', `Overlay opacity must be 0–1, got ${opacity}.`);
}

/** The image with the colourised mask alpha-blended over it (opacity 0–1), RGB. */
export function heatmapOverlay(img: DecodedImage, fullMask: Buffer, opacity = OPACITY.default): sharp.Sharp {
  checkOpacity(opacity);
  return sharp(blendColourised(img.rgb, fullMask, Math.round(opacity * 255)), { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false });
}

/**
 * out = round((c·a + p·(255 − a)) / 255) per channel, c the mask value's viridis colour and a the
 * 8-bit opacity: "over" with a constant alpha, in one integer pass to an RGB buffer. (sharp's
 * composite gave the same within one level, as RGBA, through an RGBA copy of the colours.)
 */
export function blendColourised(rgb: Buffer, fullMask: Buffer, alpha: number): Buffer {
  if (rgb.length !== fullMask.length * 3) throw new Error(`the mask has ${fullMask.length} pixels, the image ${rgb.length / 3}`);
  const keep = 255 - alpha;
  // c·a + 127 for each mask value and channel, once (+127: floor((n + 127) / 255) rounds n / 255).
  const colour = new Uint32Array(256 * 3);
  for (let i = 0; i < colour.length; i++) colour[i] = VIRIDIS_LUT[i] * alpha + 127;
  const out = Buffer.allocUnsafe(rgb.length);
  for (let i = 0, j = 0; i < fullMask.length; i++, j += 3) {
    const v = fullMask[i] * 3;
    out[j] = ((rgb[j] * keep + colour[v]) / 255) | 0;
    out[j + 1] = ((rgb[j + 1] * keep + colour[v + 1]) / 255) | 0;
    out[j + 2] = ((rgb[j + 2] * keep + colour[v + 2]) / 255) | 0;
  }
  return out;
}

export type OutputFormat = 'png' | 'jpeg' | 'webp';

export function formatForPath(file: string): OutputFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.webp') return 'webp';
  throw new AttentionPromptError('bad-parameter', `Cannot write ${file}: use a .png, .jpg or .webp file name.`);
}

export function encode(pipeline: sharp.Sharp, format: OutputFormat): sharp.Sharp {
  if (format === 'jpeg') return pipeline.jpeg({ quality: 95 });
  if (format === 'webp') return pipeline.webp({ quality: 95 });
  return pipeline.png();
}

export interface RenderedOutputs {
  /** The mask at the image's resolution, 8-bit, one channel. */
  fullMask: Buffer;
  masked: sharp.Sharp;
  /** Built on demand: a per-pixel colour lookup that callers needing only the mask skip. */
  overlay(): sharp.Sharp;
}

/** The full-resolution mask, masked image and overlay for a low-resolution mask. */
export async function renderOutputs(
  img: DecodedImage,
  mask: Float64Array,
  grid: readonly [number, number],
  params: RenderParameters & { opacity?: number },
): Promise<RenderedOutputs> {
  const fullMask = await fullResolutionMask(mask, grid[0], grid[1], img.width, img.height, params.interpolation);
  // The overlay is built on demand; a bad opacity still fails now, with the rest of the parameters.
  const opacity = params.opacity ?? OPACITY.default;
  checkOpacity(opacity);
  return { fullMask, masked: await maskedImage(img, fullMask, params.gray), overlay: () => heatmapOverlay(img, fullMask, opacity) };
}

/**
 * Runs a pipeline to raw pixels and starts a new one from them. Needed before resizing or
 * re-encoding the outputs above: sharp orders operations itself (resize before composite).
 */
export async function materialize(pipeline: sharp.Sharp): Promise<sharp.Sharp> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
}
