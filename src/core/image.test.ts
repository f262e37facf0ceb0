import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { PYTHON, tempDir } from '../../test/helpers';
import { PixelBudget, alphaForGeometry, decodeImage } from './image';

const dir = tempDir('ap-images-');
// Debian's python3-pil is installed for the system Python (a pyenv shim first on PATH would not see it).
const write = (name: string, data: Buffer | string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
};

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const t = Buffer.from(type);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([t, data])) >>> 0);
  return Buffer.concat([len, t, data, crc]);
}

/** A PNG that claims the given size but holds almost no pixel data (a decompression bomb's header). */
function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(10))), pngChunk('IEND', Buffer.alloc(0))]);
}

const solid = (w: number, h: number, rgb: [number, number, number]) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });

describe('image decoding: every kind of input becomes upright 8-bit sRGB', () => {
  it('16-bit PNG', async () => {
    const p = write('deep.png', await solid(20, 10, [255, 0, 0]).toColourspace('rgb16').png().toBuffer());
    assert.equal((await sharp(p).metadata()).depth, 'ushort');
    const img = await decodeImage(p);
    assert.deepEqual([img.width, img.height, img.rgb.length], [20, 10, 600]);
    assert.deepEqual([...img.rgb.subarray(0, 3)], [255, 0, 0]);
  });

  it('grayscale', async () => {
    const p = write('gray.png', await solid(8, 6, [100, 100, 100]).toColourspace('b-w').png().toBuffer());
    const img = await decodeImage(p);
    assert.equal(img.rgb.length, 8 * 6 * 3);
    assert.deepEqual([...img.rgb.subarray(0, 3)], [100, 100, 100]);
  });

  it('CMYK JPEG', async () => {
    const p = write('cmyk.jpg', await solid(16, 16, [0, 0, 255]).toColourspace('cmyk').jpeg().toBuffer());
    assert.equal((await sharp(p).metadata()).space, 'cmyk');
    const img = await decodeImage(p);
    assert.equal(img.rgb.length, 16 * 16 * 3);
    const [r, g, b] = img.rgb.subarray(0, 3);
    assert.ok(b > 120 && b > r + 60 && b > g + 60, `decoded ${r},${g},${b}`);
  });

  it('alpha: transparent pixels become white', async () => {
    const p = write('alpha.png', await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer());
    const img = await decodeImage(p);
    assert.equal(img.info.hadAlpha, true);
    assert.deepEqual([...img.rgb.subarray(0, 3)], [255, 255, 255]);
  });

  it('animated GIF: the first frame', async () => {
    const f1 = await solid(10, 10, [255, 0, 0]).png().toBuffer();
    const f2 = await solid(10, 10, [0, 0, 255]).png().toBuffer();
    const gif = await sharp([f1, f2], { join: { animated: true } }).gif().toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    const img = await decodeImage(write('anim.gif', gif));
    assert.deepEqual([img.width, img.height], [10, 10]);
    const [r, , b] = img.rgb.subarray(0, 3);
    assert.ok(r > 200 && b < 50);
  });

  it('WebP and TIFF', async () => {
    for (const [name, buf] of [
      ['x.webp', await solid(12, 7, [0, 255, 0]).webp({ lossless: true }).toBuffer()],
      ['x.tiff', await solid(12, 7, [0, 255, 0]).tiff().toBuffer()],
    ] as const) {
      const img = await decodeImage(write(name, buf));
      assert.deepEqual([img.width, img.height], [12, 7]);
    }
  });
});

describe('image decoding: bad input gets its own clear error', () => {
  it('missing file', async () => {
    await assert.rejects(decodeImage(path.join(dir, 'nope.png')), { code: 'bad-image', message: /not found/ });
  });

  it('a folder', async () => {
    await assert.rejects(decodeImage(dir), { code: 'bad-image', message: /folder/ });
  });

  it('empty file', async () => {
    await assert.rejects(decodeImage(write('empty.png', Buffer.alloc(0))), { code: 'bad-image', message: /empty/ });
  });

  it('truncated (corrupt) PNG', async () => {
    const good = await solid(64, 64, [10, 200, 30]).png({ compressionLevel: 0 }).toBuffer();
    const p = write('truncated.png', good.subarray(0, Math.floor(good.length / 2)));
    await assert.rejects(decodeImage(p), { code: 'bad-image', message: /could not be read/ });
  });

  it('truncated JPEG', async () => {
    const good = await solid(64, 64, [10, 200, 30]).jpeg().toBuffer();
    await assert.rejects(decodeImage(write('truncated.jpg', good.subarray(0, good.length - 200))), { code: 'bad-image' });
  });

  it('not an image at all', async () => {
    await assert.rejects(decodeImage(write('notes.png', 'just some text\n')), { code: 'unsupported-format', message: /unsupported image format \(\.png\)/ });
  });

  it('an SVG named .png is refused by its real type, before any rasteriser runs', async () => {
    // A blur filter makes librsvg's time and memory unbounded (8000×8000: 625 s, 2.6 GB); small here, so that before the fix it decodes.
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><filter id="b"><feGaussianBlur stdDeviation="9"/></filter><rect width="64" height="64" filter="url(#b)"/></svg>';
    await assert.rejects(decodeImage(write('blur.png', svg)), { code: 'unsupported-format', message: /blur\.png is an SVG file \(named \.png\), which is not accepted: use PNG, JPEG, WebP, BMP, GIF, TIFF/ });
    await assert.rejects(decodeImage(Buffer.from(`<?xml version="1.0"?>\n${svg}`), {}, 'pasted'), { code: 'unsupported-format', message: /pasted is an SVG file/ });
    const avif = await solid(16, 16, [1, 2, 3]).avif().toBuffer();
    await assert.rejects(decodeImage(write('photo.jpg', avif)), { code: 'unsupported-format', message: /an AVIF file \(named \.jpg\)/ });
  });

  it('an accepted type behind another accepted extension decodes by its content', async () => {
    const img = await decodeImage(write('really-a-jpeg.png', await solid(20, 10, [200, 10, 10]).jpeg().toBuffer()));
    assert.deepEqual([img.format, img.width, img.height], ['jpeg', 20, 10]);
  });

  it('a file whose name is not UTF-8 is found and read', async () => {
    // Linux names are bytes: 0xE9 alone (Latin-1 "é") reaches Node as U+FFFD in argv and URIs.
    const raw = Buffer.concat([Buffer.from(dir + path.sep + 'caf'), Buffer.from([0xe9]), Buffer.from('.png')]);
    fs.writeFileSync(raw, await solid(12, 8, [0, 0, 255]).png().toBuffer());
    const spelled = raw.toString('utf8');
    assert.ok(spelled.includes('\uFFFD'));
    const img = await decodeImage(spelled);
    assert.deepEqual([img.width, img.height, img.rgb[2]], [12, 8, 255]);
    // Two names that read the same: say which is ambiguous and what to do.
    const twin = Buffer.concat([Buffer.from(dir + path.sep + 'caf'), Buffer.from([0xe8]), Buffer.from('.png')]);
    fs.writeFileSync(twin, fs.readFileSync(raw));
    await assert.rejects(decodeImage(spelled), { code: 'bad-image', message: /not valid UTF-8 .* 2 files in that folder read the same way: rename/ });
  });

  it('a decode in progress is left at once when its signal fires (Ctrl-C, a closed panel)', async () => {
    const big = write('big.png', await solid(8000, 6000, [30, 60, 90]).png({ compressionLevel: 1 }).toBuffer());
    const controller = new AbortController();
    const decoding = decodeImage(big, { signal: controller.signal });
    setImmediate(() => controller.abort());
    await assert.rejects(decoding, { code: 'cancelled' });
  });

  it('BMP with RLE compression is refused with what to do', async () => {
    const bmp = Buffer.alloc(58);
    bmp.write('BM', 0);
    bmp.writeUInt32LE(58, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(1, 18);
    bmp.writeInt32LE(1, 22);
    bmp.writeUInt16LE(1, 26);
    bmp.writeUInt16LE(8, 28);
    bmp.writeUInt32LE(1, 30); // BI_RLE8
    await assert.rejects(decodeImage(write('rle.bmp', bmp)), { code: 'bad-image', message: /RLE.*uncompressed or as PNG/ });
    await assert.rejects(decodeImage(write('short.bmp', bmp.subarray(0, 30))), { code: 'bad-image' });
  });

  it('oversized images are refused from the header, before decoding', async () => {
    const p = write('huge.png', pngHeaderOnly(100_000, 100_000));
    const t0 = Date.now();
    await assert.rejects(decodeImage(p), { code: 'image-too-large', message: /100000×100000/ });
    assert.ok(Date.now() - t0 < 5000);
    const small = write('small.png', await solid(50, 50, [0, 0, 0]).png().toBuffer());
    await assert.rejects(decodeImage(small, { maxPixels: 1000 }), { code: 'image-too-large' });
    await assert.rejects(decodeImage(small, { maxFileBytes: 10 }), { code: 'image-too-large', message: /MB/ });
  });
});

describe('transparency under --geometry reference (PIL convert("RGB") as the oracle)', () => {
  it('drops alpha and keeps the colour stored under transparent pixels, byte for byte as PIL', async () => {
    // Fully transparent red, half-transparent green, opaque blue, transparent white-ish noise.
    const width = 8;
    const height = 4;
    const rgba = Buffer.alloc(width * height * 4);
    for (let i = 0; i < width * height; i++) {
      const band = i % width < 2 ? [255, 0, 0, 0] : i % width < 4 ? [0, 200, 0, 128] : i % width < 6 ? [0, 0, 255, 255] : [(i * 37) % 256, (i * 91) % 256, (i * 13) % 256, 0];
      band.forEach((v, c) => (rgba[i * 4 + c] = v));
    }
    const file = write('transparent-colour.png', await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer());
    const pil = spawnSync(PYTHON, ['-c', 'import sys; from PIL import Image; sys.stdout.buffer.write(Image.open(sys.argv[1]).convert("RGB").tobytes())', file]);
    assert.equal(pil.status, 0, String(pil.stderr));
    const dropped = await decodeImage(file, { alpha: alphaForGeometry('reference') });
    assert.deepEqual([...dropped.rgb], [...pil.stdout], 'reference: the pixels PIL gives the reference');
    const flattened = await decodeImage(file, { alpha: alphaForGeometry('full') });
    assert.deepEqual([...flattened.rgb.subarray(0, 3)], [255, 255, 255], 'full: a fully transparent pixel is white');
    assert.notDeepEqual([...flattened.rgb], [...pil.stdout]);
  });

  it('a BMP with an alpha channel follows the same rule', async () => {
    // 32-bit BI_BITFIELDS BMP (V4 header) with alpha, written by PIL.
    const file = path.join(dir, 'alpha.bmp');
    const py = 'import sys; from PIL import Image; im = Image.new("RGBA", (2, 1)); im.putdata([(255, 0, 0, 0), (0, 0, 255, 255)]); im.save(sys.argv[1])';
    assert.equal(spawnSync(PYTHON, ['-c', py, file]).status, 0);
    const pil = spawnSync(PYTHON, ['-c', 'import sys; from PIL import Image; sys.stdout.buffer.write(Image.open(sys.argv[1]).convert("RGB").tobytes())', file]);
    const dropped = await decodeImage(file, { alpha: 'drop' });
    assert.deepEqual([...dropped.rgb], [...pil.stdout]);
  });
});

describe('a pixel budget per process', () => {
  it('holds decoded images within the budget: the next waits until one is released', async () => {
    const files = await Promise.all([0, 1, 2].map(async (i) => write(`budget${i}.png`, await sharp({ create: { width: 100, height: 100, channels: 3, background: '#808080' } }).png().toBuffer())));
    const budget = new PixelBudget(25_000); // two 100×100 images, not three
    const first = await decodeImage(files[0], { budget });
    const second = await decodeImage(files[1], { budget });
    let thirdDone = false;
    const third = decodeImage(files[2], { budget }).then((img) => ((thirdDone = true), img));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(thirdDone, false, 'the third waits: the budget is spent');
    assert.equal(budget.inUse, 20_000);
    first.release();
    first.release(); // idempotent
    (await third).release();
    second.release();
    assert.equal(budget.inUse, 0);
    assert.equal(budget.peak, 20_000);
  });

  it('refuses an image larger than the whole budget; a waiting decode can be cancelled', async () => {
    const file = write('budget-big.png', await sharp({ create: { width: 200, height: 100, channels: 3, background: '#808080' } }).png().toBuffer());
    await assert.rejects(decodeImage(file, { budget: new PixelBudget(10_000) }), { code: 'image-too-large', message: /decoding budget/ });
    const budget = new PixelBudget(30_000);
    const held = await decodeImage(file, { budget });
    const controller = new AbortController();
    const waiting = decodeImage(file, { budget, signal: controller.signal });
    controller.abort();
    await assert.rejects(waiting, { code: 'cancelled' });
    held.release();
    assert.equal(budget.inUse, 0, 'the cancelled wait holds nothing');
  });
});
