/**
 * The image payload for a chat message, made with sharp (so it runs in the engine process or
 * the CLI, never on the extension host's thread).
 */
import sharp from 'sharp';
import type { AnswerImage } from './answerProvider';
import { ImageFormat, VLM_MAX_IMAGE_SIDE } from './defaults';

export interface ImagePayloadOptions {
  /** Longest side sent (VLMs downscale anyway; default 2048, OpenAI's "high" detail limit). */
  maxSide?: number;
  /** Preferred format; PNG falls back to JPEG when it would exceed maxBytes. */
  format?: ImageFormat;
  /** The source's format, for `auto`: photos (JPEG) stay JPEG, everything else goes as PNG. */
  sourceFormat?: string;
  maxBytes?: number;
}

/**
 * Encodes an image for a chat message: JPEG or PNG (WebP, GIF, TIFF… are converted), downscaled
 * to maxSide, as a data URL.
 */
export async function imageDataUrl(image: sharp.Sharp, opts: ImagePayloadOptions = {}): Promise<{ url: string; mime: string; bytes: number }> {
  const { bytes, mime } = await imagePayload(image, opts);
  return { url: `data:${mime};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`, mime, bytes: bytes.byteLength };
}

/** The same encoding as bytes, for an AnswerProvider (which builds whatever its endpoint needs). */
export async function imagePayload(image: sharp.Sharp, opts: ImagePayloadOptions = {}): Promise<AnswerImage> {
  const maxSide = opts.maxSide ?? VLM_MAX_IMAGE_SIDE.default;
  const maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
  const resized = image.clone().resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true });
  let format = opts.format ?? 'auto';
  if (format === 'auto') format = opts.sourceFormat === 'jpeg' ? 'jpeg' : 'png';
  let data = format === 'png' ? await resized.clone().png().toBuffer() : await resized.clone().jpeg({ quality: 92 }).toBuffer();
  let mime: AnswerImage['mime'] = format === 'png' ? 'image/png' : 'image/jpeg';
  if (data.length > maxBytes && format === 'png') {
    data = await resized.clone().jpeg({ quality: 92 }).toBuffer();
    mime = 'image/jpeg';
  }
  return { bytes: data, mime };
}

