/**
 * An image file's real type, from its first bytes (its "magic number"), whatever its name says.
 * Decoding goes by this type, and only the types behind IMAGE_EXTENSIONS are decoded: an SVG
 * (a program for a rasteriser, unbounded in time and memory) renamed `.png` never reaches one.
 */
import { IMAGE_EXTENSIONS } from './defaults';

export type SniffedType = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'tiff' | 'avif' | 'heif' | 'jxl' | 'jp2' | 'svg' | 'pdf' | 'ico' | 'psd';

/** The types IMAGE_EXTENSIONS stand for (each extension's decoder). */
const TYPE_OF_EXTENSION: Record<(typeof IMAGE_EXTENSIONS)[number], SniffedType> = {
  png: 'png',
  jpg: 'jpeg',
  jpeg: 'jpeg',
  webp: 'webp',
  bmp: 'bmp',
  gif: 'gif',
  tif: 'tiff',
  tiff: 'tiff',
};
export const ACCEPTED_TYPES: ReadonlySet<SniffedType> = new Set(Object.values(TYPE_OF_EXTENSION));

/** What people call each type, for messages. */
export const TYPE_NAMES: Record<SniffedType, string> = {
  png: 'PNG', jpeg: 'JPEG', gif: 'GIF', webp: 'WebP', bmp: 'BMP', tiff: 'TIFF', avif: 'AVIF', heif: 'HEIF',
  jxl: 'JPEG XL', jp2: 'JPEG 2000', svg: 'SVG', pdf: 'PDF', ico: 'ICO', psd: 'Photoshop',
};

/** "an SVG file", "a PNG file": the type with its article, for messages. */
export function describeType(type: SniffedType): string {
  const name = TYPE_NAMES[type];
  return `${/^(AVIF|SVG|ICO)$/.test(name) ? 'an' : 'a'} ${name} file`;
}

/** The accepted types as a list for messages ("PNG, JPEG, WebP, BMP, GIF, TIFF"). */
export const ACCEPTED_TYPE_LIST = [...ACCEPTED_TYPES].map((t) => TYPE_NAMES[t]).join(', ');

const startsWith = (b: Buffer, sig: number[], at = 0) => b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (b: Buffer, from: number, to: number) => b.subarray(from, Math.min(to, b.length)).toString('latin1');

/** The type the bytes are, or undefined when they start like no image format known here. */
export function sniffImageType(b: Buffer): SniffedType | undefined {
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  if (ascii(b, 0, 2) === 'BM') return 'bmp';
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a]) || startsWith(b, [0x49, 0x49, 0x2b, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  if (ascii(b, 4, 8) === 'ftyp') {
    const brand = ascii(b, 8, 12);
    return brand === 'avif' || brand === 'avis' ? 'avif' : 'heif';
  }
  if (startsWith(b, [0xff, 0x0a]) || startsWith(b, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'jxl';
  if (startsWith(b, [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20])) return 'jp2';
  if (ascii(b, 0, 5) === '%PDF-') return 'pdf';
  if (startsWith(b, [0, 0, 1, 0])) return 'ico';
  if (ascii(b, 0, 4) === '8BPS') return 'psd';
  // SVG is text: an XML declaration, comments or a doctype may come before the <svg> element.
  const head = b.subarray(0, 4096).toString('utf8').replace(/^\uFEFF/, '').trimStart();
  if (/^(<\?xml|<!--|<!doctype\s+svg|<svg[\s>])/i.test(head) && /<svg[\s>]/i.test(head)) return 'svg';
  return undefined;
}
