/** One item's files: the masked image, the overlay, the thumbnails and the reference layout's copy. */
import * as path from 'node:path';
import type sharp from 'sharp';
import { DecodedImage, fromDecoded } from '../image';
import { materialize, renderOutputs } from '../render';
import type { BatchItem } from './inputs';
import type { RunContext } from './itemContext';
import type { BatchMap } from './mapSource';
import type { ResultRecord } from './results';

/** Renders the masked image, overlay and thumbnails (and the reference layout's copy) and writes them. */
export async function writeOutputs(ctx: RunContext, item: BatchItem, image: DecodedImage, attribution: BatchMap): Promise<{ outputs: NonNullable<ResultRecord['outputs']>; maskedPng: sharp.Sharp }> {
  const { opts, refDir, thumbSize } = ctx;
  const rendered = await renderOutputs(image, attribution.mask, attribution.grid, { interpolation: opts.interpolation, gray: opts.gray, opacity: opts.opacity });
  const maskedPng = await materialize(rendered.masked);
  const photo = image.format === 'jpeg';
  // In a sweep each setting has its own files: "id@layer20_contrast3" (ids never contain "@").
  const stem = ctx.setting ? `${item.id}@${ctx.setting.slug}` : item.id;
  const maskedFile = path.join('masked', `${stem}.${photo ? 'jpg' : 'png'}`);
  const overlayFile = path.join('overlays', `${stem}.jpg`);
  const thumbs = { original: path.join('thumbs', `${item.id}.original.jpg`), overlay: path.join('thumbs', `${stem}.overlay.jpg`), masked: path.join('thumbs', `${stem}.masked.jpg`) };
  const small = (p: sharp.Sharp) => p.clone().resize(thumbSize, thumbSize, { fit: 'inside' }).jpeg({ quality: 70 });
  const overlay = await materialize(rendered.overlay());
  const at = (rel: string) => path.join(opts.outDir, rel);
  await Promise.all([
    (photo ? maskedPng.clone().jpeg({ quality: 92 }) : maskedPng.clone().png({ compressionLevel: 3 })).toFile(at(maskedFile)),
    overlay.clone().jpeg({ quality: 85 }).toFile(at(overlayFile)),
    small(fromDecoded(image)).toFile(at(thumbs.original)),
    small(overlay).toFile(at(thumbs.overlay)),
    small(maskedPng).toFile(at(thumbs.masked)),
    // The reference saves PIL's default JPEG (quality 75) named by key (main.py:140-141).
    refDir ? maskedPng.clone().jpeg({ quality: 75 }).toFile(path.join(refDir, `${item.id}.jpg`)) : Promise.resolve(),
  ]);
  const reference = refDir ? path.relative(opts.outDir, path.join(refDir, `${item.id}.jpg`)) : undefined;
  return { outputs: { masked: maskedFile, overlay: overlayFile, thumbs, reference }, maskedPng };
}
