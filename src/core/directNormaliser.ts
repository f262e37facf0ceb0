/**
 * The image processor's work on an image already at the model's input size, without its copies:
 * CLIPImageProcessor's resize and centre crop are identities there (RawImage.resize returns the
 * image itself at the same size), leaving rescale (x · rescale_factor, in float32) and normalise
 * ((x − mean) / std per channel), then HWC → CHW. The arithmetic is the processor's, in the same
 * order and precision, so the tensor is bit-identical (a test checks it). Undefined when the
 * processor's settings ask for more (padding, channel flips, another crop size).
 */
export function directNormaliser(processor: unknown, size: number): ((rgb: Buffer) => Float32Array) | undefined {
  const p = processor as {
    do_rescale?: boolean; rescale_factor?: number; do_normalize?: boolean; image_mean?: unknown; image_std?: unknown;
    do_pad?: boolean; do_flip_channel_order?: boolean; do_thumbnail?: boolean; do_center_crop?: boolean; crop_size?: number | { width: number; height: number };
  };
  const triple = (v: unknown, fallback: number) => (Array.isArray(v) ? v : Array(3).fill(v ?? fallback)) as number[];
  const crop = typeof p.crop_size === 'number' ? { width: p.crop_size, height: p.crop_size } : p.crop_size;
  if (typeof p !== 'object' || p === null || p.do_pad || p.do_flip_channel_order || p.do_thumbnail) return undefined;
  if (p.do_center_crop && (!crop || crop.width !== size || crop.height !== size)) return undefined;
  const mean = p.do_normalize ? triple(p.image_mean, 0) : [0, 0, 0];
  const std = p.do_normalize ? triple(p.image_std, 1) : [1, 1, 1];
  if (mean.length !== 3 || std.length !== 3 || ![...mean, ...std].every(Number.isFinite)) return undefined;
  const rescale = p.do_rescale ? p.rescale_factor ?? 1 / 255 : 1;
  const plane = size * size;
  return (rgb) => {
    if (rgb.length !== plane * 3) throw new Error(`expected ${plane * 3} RGB bytes, got ${rgb.length}`);
    const out = new Float32Array(plane * 3);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) {
        const x = p.do_rescale ? Math.fround(rescale * rgb[i * 3 + c]) : rgb[i * 3 + c];
        out[c * plane + i] = p.do_normalize ? (x - mean[c]) / std[c] : x;
      }
    }
    return out;
  };
}
