/**
 * The bound on images built on the way to a model's input. Decoding is bounded by the image's own
 * pixel count, but a geometry can ask for far more than the image has: `reference` scales the
 * shorter side to the input size (a 1×100000 PNG of 274 bytes became 224×22,400,000, over 6 GB),
 * and LLaVA's pad makes a 1×100000 image a 100000×100000 square. Checked before allocating.
 */
import { MAX_INTERMEDIATE_PIXELS } from './defaults';
import { AttentionPromptError } from './errors';

const megapixels = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MP`;

/** Throws image-too-large, naming the image, the step and the limit, when `width`×`height` is over the bound. */
export function checkIntermediateSize(img: { source: string; width: number; height: number }, width: number, height: number, step: string): void {
  if (width * height <= MAX_INTERMEDIATE_PIXELS) return;
  throw new AttentionPromptError(
    'image-too-large',
    `${img.source} is ${img.width}×${img.height}: ${step} needs a ${width}×${height} image (${megapixels(width * height)}; the limit is ${megapixels(MAX_INTERMEDIATE_PIXELS)}). ` +
      'Use geometry "full" (--geometry full, or the attentionPrompting.clip.imageGeometry setting), or crop the image nearer to square.',
  );
}
