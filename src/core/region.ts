/**
 * Where the mask keeps the image: the pixels whose mask value is at least half (m ≥ 0.5, so the
 * blend image·m + (1 − m)·gray keeps at least half of the original there), as a bounding box in
 * image pixels and a share of the image. For tools and chat, which describe the heatmap in words.
 */

export interface FavouredRegion {
  /** Bounding box of the kept pixels, in full-resolution image pixels (left, top inclusive). */
  box: { left: number; top: number; width: number; height: number };
  /** Kept pixels / all pixels, in [0, 1]. */
  share: number;
}

/** m ≥ 0.5 as an 8-bit mask value (render.ts truncates 255·m, so 0.5 becomes 127). */
export const FAVOURED_THRESHOLD = 127;

/** The favoured region of a full-resolution 8-bit mask (row-major); undefined when no pixel reaches the threshold. */
export function favouredRegion(fullMask: Uint8Array, width: number, height: number, threshold = FAVOURED_THRESHOLD): FavouredRegion | undefined {
  if (fullMask.length !== width * height) throw new RangeError(`mask has ${fullMask.length} values for ${width}×${height} pixels`);
  let left = width;
  let top = height;
  let right = -1;
  let bottom = -1;
  let kept = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (fullMask[row + x] < threshold) continue;
      kept++;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  if (!kept) return undefined;
  return { box: { left, top, width: right - left + 1, height: bottom - top + 1 }, share: kept / (width * height) };
}
