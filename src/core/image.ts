/**
 * Decoding and validating input images with sharp: EXIF orientation applied, alpha flattened onto
 * white (or dropped, as the reference does), any colour space or bit depth converted to 8-bit
 * sRGB, first frame of an animation. The decoded pixels are kept once and reused for CLIP's input
 * and for the full-resolution outputs. A process-wide pixel budget bounds how many decoded pixels
 * its holders (the batch runner) keep at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeBmp, isBmp } from './bmp';
import { MAX_IMAGE_FILE_BYTES, MAX_IMAGE_PIXELS } from './defaults';
import { AttentionPromptError, untilAborted } from './errors';
import { ACCEPTED_TYPES, ACCEPTED_TYPE_LIST, describeType, sniffImageType } from './imageType';
import { resolveLossyName } from './lossyName';

export const DEFAULT_MAX_PIXELS = MAX_IMAGE_PIXELS;
export const DEFAULT_MAX_FILE_BYTES = MAX_IMAGE_FILE_BYTES;

/**
 * What happens to transparency. `white`: transparent pixels become white, what a viewer shows on
 * a light page — the colour stored under a fully transparent pixel is invisible and arbitrary
 * (editors leave black, or whatever was erased), so CLIP and the VLM should not see it. `drop`
 * (`--geometry reference`): the RGB keeps the stored colour, as PIL's `convert('RGB')` does where the
 * reference blends its mask (main.py 23-30), and the alpha plane is kept beside it, because the
 * reference's CLIP transform resizes the RGBA image premultiplied before converting (modelInput.ts).
 */
export type AlphaHandling = 'white' | 'drop';

/** The alpha handling of each geometry: the reference reproduces the paper's pixels exactly. */
export const alphaForGeometry = (geometry: 'full' | 'reference'): AlphaHandling => (geometry === 'reference' ? 'drop' : 'white');

export interface ImageLimits {
  maxPixels?: number;
  maxFileBytes?: number;
  alpha?: AlphaHandling;
  /**
   * Decoded pixels are held against this budget until `release()` is called on the image
   * (decoding waits while the budget is spent).
   */
  budget?: PixelBudget;
  signal?: AbortSignal;
}

/**
 * A process-wide bound on decoded pixels held at once. An image larger than the whole budget is
 * refused; a smaller one waits (first come, first served) until enough is released. Pixels, not
 * bytes: every holder keeps 3 bytes per pixel plus sharp's transient copies.
 */
export class PixelBudget {
  private used = 0;
  private readonly queue: Array<{ pixels: number; grant: () => void }> = [];
  /** The most pixels held at once, for tests and reports. */
  peak = 0;

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Waits until `pixels` fit, holds them, and returns the (idempotent) release. */
  async acquire(pixels: number, signal?: AbortSignal): Promise<() => void> {
    if (pixels > this.capacity) {
      throw new AttentionPromptError('image-too-large', `${(pixels / 1e6).toFixed(1)} MP is more than this process's decoding budget of ${(this.capacity / 1e6).toFixed(0)} MP.`);
    }
    if (signal?.aborted) throw new AttentionPromptError('cancelled', 'Cancelled.');
    if (this.queue.length || this.used + pixels > this.capacity) {
      await new Promise<void>((resolve, reject) => {
        const entry = {
          pixels,
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          this.queue.splice(this.queue.indexOf(entry), 1);
          reject(new AttentionPromptError('cancelled', 'Cancelled.'));
          this.grantWaiting();
        };
        this.queue.push(entry);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } else this.take(pixels);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= pixels;
      this.grantWaiting();
    };
  }

  private take(pixels: number): void {
    this.used += pixels;
    this.peak = Math.max(this.peak, this.used);
  }

  private grantWaiting(): void {
    while (this.queue.length && this.used + this.queue[0].pixels <= this.capacity) {
      const next = this.queue.shift()!;
      this.take(next.pixels);
      next.grant();
    }
  }
}

/** The budget of this process: one image at the per-image limit, or several smaller ones. */
export const processPixelBudget = new PixelBudget(DEFAULT_MAX_PIXELS);

export interface DecodedImage {
  /** File path or a label for buffers, for messages. */
  source: string;
  width: number;
  height: number;
  /** 8-bit sRGB, 3 channels, row-major, upright. */
  rgb: Buffer;
  /**
   * The alpha plane, one byte per pixel, kept where transparency is dropped (`drop`, the reference
   * geometry) rather than flattened: the reference resizes an RGBA image premultiplied by it.
   */
  alpha?: Buffer;
  format: string;
  /** Facts about the input, for reports. */
  info: {
    orientation?: number;
    hadAlpha: boolean;
    space?: string;
    depth?: string;
    pages?: number;
    /** A palette or 1-bit image: PIL opens it in mode P or 1, and resizes those with NEAREST whatever filter is asked for. */
    indexed?: boolean;
  };
  /** Gives the pixels back to the budget they were decoded under (no-op without one). */
  release(): void;
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
    // A name that is not UTF-8 reaches us with its odd bytes replaced by U+FFFD: find the file it stands for.
    let file: string | Buffer = input;
    try {
      st = await fs.promises.stat(input);
    } catch {
      const found = await resolveLossyName(input);
      if (!found.path) throw new AttentionPromptError('bad-image', `Image not found: ${input}${found.why ? ` (${found.why})` : ''}`);
      file = found.path;
      st = await fs.promises.stat(file);
    }
    if (st.isDirectory()) throw new AttentionPromptError('bad-image', `${input} is a folder, not an image.`);
    if (st.size > maxFileBytes) {
      throw new AttentionPromptError('image-too-large', `${input} is ${(st.size / 1e6).toFixed(0)} MB; the limit is ${(maxFileBytes / 1e6).toFixed(0)} MB.`);
    }
    if (st.size === 0) throw badImage(source, 'the file is empty');
    bytes = await fs.promises.readFile(file);
  } else {
    bytes = input;
  }

  const alpha = limits.alpha ?? 'white';
  // Decoded by what the bytes are, not by the name; only the accepted types reach a decoder.
  const type = sniffImageType(bytes);
  const named = typeof input === 'string' ? path.extname(input).toLowerCase() : '';
  if (type === undefined) {
    throw new AttentionPromptError('unsupported-format', `${source}: unsupported image format${named ? ` (${named})` : ''}: its content is none of ${ACCEPTED_TYPE_LIST}.`);
  }
  if (!ACCEPTED_TYPES.has(type)) {
    throw new AttentionPromptError(
      'unsupported-format',
      `${source} is ${describeType(type)}${named ? ` (named ${named})` : ''}, which is not accepted: use ${ACCEPTED_TYPE_LIST}. Convert it to PNG first.`,
    );
  }
  if (isBmp(bytes)) {
    const release = limits.budget ? await limits.budget.acquire(Math.min(bmpPixels(bytes), maxPixels), limits.signal) : () => undefined;
    try {
      return { ...(await decodeBmpImage(bytes, source, maxPixels, alpha)), release };
    } catch (e) {
      release();
      throw e;
    }
  }

  let meta: sharp.Metadata;
  try {
    meta = await untilAborted(sharp(bytes, { limitInputPixels: false }).metadata(), limits.signal);
  } catch (e) {
    if ((e as AttentionPromptError).code === 'cancelled') throw e;
    throw badImage(source, (e as Error).message);
  }
  if (meta.format !== undefined && !ACCEPTED_TYPES.has(meta.format as never)) {
    throw new AttentionPromptError('unsupported-format', `${source} is read as ${meta.format}, which is not accepted: use ${ACCEPTED_TYPE_LIST}.`);
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

  // Held before the pixels exist: a run never has more decoded than the budget.
  const release = limits.budget ? await limits.budget.acquire(width * height, limits.signal) : () => undefined;
  try {
    // failOn 'error': truncated or corrupt data fails here instead of decoding to gray garbage.
    let pipeline = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', animated: false }).autoOrient();
    if (meta.hasAlpha && alpha === 'white') pipeline = pipeline.flatten({ background: '#ffffff' });
    // The caller stops waiting on cancellation; libvips finishes this bounded decode on its own.
    const keepAlpha = !!meta.hasAlpha && alpha === 'drop';
    const decoded = pipeline.toColourspace('srgb');
    const { data, info } = await untilAborted((keepAlpha ? decoded.ensureAlpha() : decoded.removeAlpha()).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }), limits.signal);
    if (info.channels !== (keepAlpha ? 4 : 3)) throw new Error(`decoded to ${info.channels} channels`);
    const planes = keepAlpha ? splitAlpha(data, info.width * info.height) : { rgb: data };
    return {
      source,
      width: info.width,
      height: info.height,
      ...planes,
      format: meta.format ?? 'unknown',
      info: {
        orientation: meta.orientation,
        hadAlpha: !!meta.hasAlpha,
        space: meta.space,
        depth: meta.depth,
        pages: meta.pages,
        indexed: !!meta.isPalette || (meta.format === 'png' && meta.bitsPerSample === 1 && meta.channels === 1),
      },
      release,
    };
  } catch (e) {
    release();
    if ((e as AttentionPromptError).code === 'cancelled') throw e;
    const msg = (e as Error).message;
    if (/pixel limit/i.test(msg)) {
      throw new AttentionPromptError('image-too-large', `${source} exceeds the ${(maxPixels / 1e6).toFixed(0)} MP limit.`);
    }
    throw badImage(source, msg);
  }
}

/** Width × height from a BMP header (core or info header), before decoding. */
function bmpPixels(bytes: Buffer): number {
  if (bytes.length < 26) return 0;
  const core = bytes.readUInt32LE(14) === 12;
  return core ? bytes.readUInt16LE(18) * bytes.readUInt16LE(20) : Math.abs(bytes.readInt32LE(18)) * Math.abs(bytes.readInt32LE(22));
}

async function decodeBmpImage(bytes: Buffer, source: string, maxPixels: number, alpha: AlphaHandling): Promise<Omit<DecodedImage, 'release'>> {
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
  const raw = sharp(bmp.rgba, { raw: { width: bmp.width, height: bmp.height, channels: 4 } });
  const { data, info } = await (alpha === 'white' ? raw.flatten({ background: '#ffffff' }) : raw)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { source, width: info.width, height: info.height, rgb: data, format: 'bmp', info: { hadAlpha: bmp.rgba.some((v, i) => i % 4 === 3 && v !== 255) } };
}

/** RGBA bytes into the RGB image and its alpha plane. */
function splitAlpha(rgba: Buffer, pixels: number): { rgb: Buffer; alpha: Buffer } {
  const rgb = Buffer.allocUnsafe(pixels * 3);
  const alpha = Buffer.allocUnsafe(pixels);
  for (let i = 0; i < pixels; i++) {
    rgb[i * 3] = rgba[i * 4];
    rgb[i * 3 + 1] = rgba[i * 4 + 1];
    rgb[i * 3 + 2] = rgba[i * 4 + 2];
    alpha[i] = rgba[i * 4 + 3];
  }
  return { rgb, alpha };
}

/** A sharp pipeline over the decoded pixels. */
export function fromDecoded(img: DecodedImage): sharp.Sharp {
  return sharp(img.rgb, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false });
}
