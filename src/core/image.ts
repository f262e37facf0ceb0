/**
 * Decoding and validating input images with sharp: EXIF orientation applied, alpha flattened,
 * any colour space or bit depth converted to 8-bit sRGB, first frame of an animation. The
 * decoded pixels are kept once and reused for CLIP's input and for the full-resolution outputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeBmp, isBmp } from './bmp';
import { AttentionPromptError } from './errors';

export const DEFAULT_MAX_PIXELS = 100_000_000; // 100 megapixels: 300 MB of RGB
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;

export interface ImageLimits {
  maxPixels?: number;
  maxFileBytes?: number;
}

export interface DecodedImage {
  /** File path or a label for buffers, for messages. */
  source: string;
  width: number;
  height: number;
  /** 8-bit sRGB, 3 channels, row-major, upright. */
  rgb: Buffer;
  format: string;
  /** Facts about the input, for reports. */
  info: { orientation?: number; hadAlpha: boolean; space?: string; depth?: string; pages?: number };
}

function badImage(source: string, detail: string): AttentionPromptError {
  return new AttentionPromptError('bad-image', `${source} could not be read as an image: ${detail}. Is the file complete and really an image?`);
}

export async function decodeImage(input: string | Buffer, limits: ImageLimits = {}, label?: string): Promise<DecodedImage> {
  const source = label ?? (typeof input === 'string' ? input : 'image');
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxFileBytes = limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  let bytes: Buffer;
  if (typeof input === 'string') {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(input);
    } catch {
      throw new AttentionPromptError('bad-image', `Image not found: ${input}`);
    }
    if (st.isDirectory()) throw new AttentionPromptError('bad-image', `${input} is a folder, not an image.`);
    if (st.size > maxFileBytes) {
      throw new AttentionPromptError('image-too-large', `${input} is ${(st.size / 1e6).toFixed(0)} MB; the limit is ${(maxFileBytes / 1e6).toFixed(0)} MB.`);
    }
    if (st.size === 0) throw badImage(source, 'the file is empty');
    bytes = await fs.promises.readFile(input);
  } else {
    bytes = input;
  }

  if (isBmp(bytes)) return decodeBmpImage(bytes, source, maxPixels);

  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    const msg = (e as Error).message;
    if (/unsupported image format/i.test(msg)) {
      const ext = typeof input === 'string' ? path.extname(input).toLowerCase() : '';
      throw new AttentionPromptError(
        'unsupported-format',
        `${source}: unsupported image format${ext ? ` (${ext})` : ''}. Supported: PNG, JPEG, WebP, GIF, TIFF, BMP, AVIF, SVG.`,
      );
    }
    throw badImage(source, msg);
  }
  const width = meta.autoOrient?.width ?? meta.width ?? 0;
  const height = meta.autoOrient?.height ?? meta.height ?? 0;
  if (!width || !height) throw badImage(source, 'it has no size');
  if (width * height > maxPixels) {
    throw new AttentionPromptError(
      'image-too-large',
      `${source} is ${width}×${height} (${((width * height) / 1e6).toFixed(1)} MP); the limit is ${(maxPixels / 1e6).toFixed(0)} MP. Downscale it first.`,
    );
  }

  try {
    // failOn 'error': truncated or corrupt data fails here instead of decoding to gray garbage.
    let pipeline = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', animated: false }).autoOrient();
    // Transparent pixels become white: what a viewer shows on a light page, and defined RGB for CLIP.
    if (meta.hasAlpha) pipeline = pipeline.flatten({ background: '#ffffff' });
    const { data, info } = await pipeline.toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {
      source,
      width: info.width,
      height: info.height,
      rgb: data,
      format: meta.format ?? 'unknown',
      info: { orientation: meta.orientation, hadAlpha: !!meta.hasAlpha, space: meta.space, depth: meta.depth, pages: meta.pages },
    };
  } catch (e) {
    const msg = (e as Error).message;
    if (/pixel limit/i.test(msg)) {
      throw new AttentionPromptError('image-too-large', `${source} exceeds the ${(maxPixels / 1e6).toFixed(0)} MP limit.`);
    }
    throw badImage(source, msg);
  }
}

async function decodeBmpImage(bytes: Buffer, source: string, maxPixels: number): Promise<DecodedImage> {
  let bmp;
  try {
    bmp = decodeBmp(bytes, maxPixels);
  } catch (e) {
    const err = e as Error & { tooLarge?: boolean; width?: number; height?: number };
    if (err.tooLarge) {
      throw new AttentionPromptError('image-too-large', `${source} is ${err.width}×${err.height}; the limit is ${(maxPixels / 1e6).toFixed(0)} MP. Downscale it first.`);
    }
    throw badImage(source, err.message);
  }
  const { data, info } = await sharp(bmp.rgba, { raw: { width: bmp.width, height: bmp.height, channels: 4 } })
    .flatten({ background: '#ffffff' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { source, width: info.width, height: info.height, rgb: data, format: 'bmp', info: { hadAlpha: bmp.rgba.some((v, i) => i % 4 === 3 && v !== 255) } };
}

/** A sharp pipeline over the decoded pixels. */
export function fromDecoded(img: DecodedImage): sharp.Sharp {
  return sharp(img.rgb, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false });
}
