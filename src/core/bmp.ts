/**
 * A BMP decoder: libvips in sharp's prebuilt binaries has no BMP loader, and the maintained npm
 * codec (fast-bmp) ignores colour palettes and top-down files, which are common in datasets.
 * Handles BITMAPINFOHEADER and its V4/V5 extensions; 1/4/8-bit palettes, 16-bit (5-5-5 or
 * bit fields), 24-bit, 32-bit (BI_RGB or bit fields, with alpha); bottom-up and top-down rows.
 * RLE compression is refused with a clear message.
 */
export interface DecodedBmp {
  width: number;
  height: number;
  /** 4 channels, RGBA, top row first. */
  rgba: Buffer;
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

export function isBmp(bytes: Buffer): boolean {
  return bytes.length >= 26 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

function maskShift(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

export function decodeBmp(bytes: Buffer, maxPixels = Infinity): DecodedBmp {
  const fail = (why: string): never => {
    throw new Error(`not a readable BMP: ${why}`);
  };
  if (!isBmp(bytes) || bytes.length < 54) fail('too short or no BM signature');
  const dataOffset = bytes.readUInt32LE(10);
  const headerSize = bytes.readUInt32LE(14);
  if (headerSize < 40) fail(`OS/2 core header (${headerSize} bytes) is not supported`);
  const width = bytes.readInt32LE(18);
  const rawHeight = bytes.readInt32LE(22);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  const bpp = bytes.readUInt16LE(28);
  const compression = bytes.readUInt32LE(30);
  if (width <= 0 || height === 0) fail(`size ${width}×${rawHeight}`);
  if (width * height > maxPixels) throw Object.assign(new Error(`${width}×${height}`), { tooLarge: true, width, height });
  if (compression !== BI_RGB && compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS) {
    fail(`compression ${compression} (RLE) is not supported; save it uncompressed or as PNG`);
  }
  let masks: number[] | undefined;
  if (compression !== BI_RGB) {
    const at = headerSize >= 52 ? 54 : 14 + headerSize; // V2+ headers hold the masks; else they follow the header
    masks = [bytes.readUInt32LE(at), bytes.readUInt32LE(at + 4), bytes.readUInt32LE(at + 8), headerSize >= 56 || compression === BI_ALPHABITFIELDS ? bytes.readUInt32LE(at + 12) : 0];
  } else if (bpp === 16) {
    masks = [0x7c00, 0x03e0, 0x001f, 0];
  } else if (bpp === 32) {
    masks = [0x00ff0000, 0x0000ff00, 0x000000ff, 0];
  }
  let palette: Buffer | undefined;
  if (bpp <= 8) {
    const colours = bytes.readUInt32LE(46) || 1 << bpp;
    const start = 14 + headerSize;
    palette = bytes.subarray(start, start + colours * 4);
  } else if (bpp !== 16 && bpp !== 24 && bpp !== 32) {
    fail(`${bpp} bits per pixel`);
  }
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (dataOffset + stride * height > bytes.length) fail('the pixel data is truncated');
  const rgba = Buffer.alloc(width * height * 4);
  const fields = masks?.map(maskShift);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (palette) {
        const bitPos = x * bpp;
        const byte = bytes[row + (bitPos >> 3)];
        const index = (byte >> (8 - bpp - (bitPos & 7))) & ((1 << bpp) - 1);
        const p = index * 4;
        if (p + 2 >= palette.length) fail(`palette index ${index} out of range`);
        rgba[o] = palette[p + 2];
        rgba[o + 1] = palette[p + 1];
        rgba[o + 2] = palette[p];
        rgba[o + 3] = 255;
      } else if (bpp === 24) {
        const p = row + x * 3;
        rgba[o] = bytes[p + 2];
        rgba[o + 1] = bytes[p + 1];
        rgba[o + 2] = bytes[p];
        rgba[o + 3] = 255;
      } else {
        const v = bpp === 16 ? bytes.readUInt16LE(row + x * 2) : bytes.readUInt32LE(row + x * 4);
        for (let c = 0; c < 3; c++) {
          const f = fields![c];
          rgba[o + c] = f.max ? Math.round((((v & masks![c]) >>> f.shift) * 255) / f.max) : 0;
        }
        const a = fields![3];
        rgba[o + 3] = a.max ? Math.round((((v & masks![3]) >>> a.shift) * 255) / a.max) : 255;
      }
    }
  }
  return { width, height, rgba };
}
