/**
 * The model's input made as the reference makes it, byte for byte against Pillow: resizeBands
 * against PIL's Image.resize on RGB for every filter, and the CLIP and LLaVA inputs against the
 * reference's own steps written with PIL (open_clip's Resize + CenterCrop; LLaVA's expand2square
 * + CLIPImageProcessor's resize).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { PYTHON, tempDir } from '../../test/helpers';
import { alphaForGeometry, decodeImage } from './image';
import { pilResize, pillow } from '../../test/pillow';
import { RESIZE_FILTERS } from './defaults';
import type { DecodedImage } from './image';
import { clipInput, llavaInput, roundHalfEven, shorterSideTo } from './modelInput';
import { resizeBands } from './resample';
import { PARALLEL_MIN_PIXELS, resizeBandsParallel } from './rowWorkers';


/** Noise, hard edges and the extremes 0 and 255 (where clipping matters), per band. */
function testImage(width: number, height: number, seed: number): DecodedImage {
  let s = seed;
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < rgb.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const pixel = Math.floor(i / 3);
    const x = pixel % width;
    rgb[i] = pixel % 13 === 0 ? 255 : pixel % 17 === 0 ? 0 : x < width / 3 ? (i % 3) * 100 : (s >>> 16) & 255;
  }
  return { source: 'test', width, height, rgb, format: 'raw' } as DecodedImage;
}

const firstDifference = (a: Buffer, b: Buffer) => (a.length !== b.length ? `length ${a.length} vs ${b.length}` : a.findIndex((v, i) => v !== b[i]));

describe('RGB resized as PIL resizes it (Resample.c, three bands)', () => {
  // Shrink and enlarge along each axis, both, odd sizes, one-pixel edges, extreme aspect ratios.
  const cases: Array<[number, number, number, number]> = [
    [200, 150, 96, 96],
    [60, 40, 96, 96],
    [333, 250, 224, 168],
    [64, 40, 27, 200],
    [17, 301, 5, 7],
    [1, 1, 9, 4],
    [9, 1, 3, 1],
    [1, 57, 1, 13],
    [400, 3, 21, 21],
    [2, 500, 336, 336],
  ];
  for (const method of RESIZE_FILTERS) {
    it(`PIL ${method}: byte for byte`, () => {
      cases.forEach(([inW, inH, outW, outH], k) => {
        const img = testImage(inW, inH, 11 + k);
        const ours = resizeBands(img.rgb, 3, inW, inH, outW, outH, method);
        const theirs = pilResize('RGB', img.rgb, inW, inH, outW, outH, method);
        assert.equal(firstDifference(ours, theirs), -1, `${inW}×${inH} → ${outW}×${outH}`);
      });
    });
  }

  it('large images: the horizontal pass split over threads gives the same bytes as one thread, and as PIL', async () => {
    // Over PARALLEL_MIN_PIXELS, with row counts that do not divide evenly between the threads.
    for (const [inW, inH, outW, outH] of [[1601, 1003, 224, 224], [1000, 1201, 336, 97], [2000, 701, 2000, 300]] as const) {
      assert.ok(inW * inH >= PARALLEL_MIN_PIXELS);
      const img = testImage(inW, inH, inW);
      for (const method of ['BICUBIC', 'LANCZOS', 'BILINEAR'] as const) {
        const parallel = await resizeBandsParallel(img.rgb, 3, inW, inH, outW, outH, method);
        assert.equal(firstDifference(parallel, resizeBands(img.rgb, 3, inW, inH, outW, outH, method)), -1, `${inW}×${inH} → ${outW}×${outH} ${method}`);
      }
    }
    const img = testImage(1601, 1003, 1601);
    const theirs = pilResize('RGB', img.rgb, 1601, 1003, 224, 224, 'BICUBIC');
    assert.equal(firstDifference(await resizeBandsParallel(img.rgb, 3, 1601, 1003, 224, 224, 'BICUBIC'), theirs), -1);
  });

  it('refuses bytes that do not make the stated size, and an empty output', () => {
    assert.throws(() => resizeBands(new Uint8Array(10), 3, 2, 2, 5, 5, 'BICUBIC'), /10 bytes for a 2×2 image of 3 band/);
    assert.throws(() => resizeBands(new Uint8Array(12), 3, 2, 2, 0, 5, 'BICUBIC'), /cannot resize to 0×5/);
  });
});

describe('the model input as the reference makes it', () => {
  // open_clip's transform as API_CLIP builds it: Resize(s, BICUBIC), CenterCrop(s) (torchvision on PIL).
  const OPEN_CLIP = [
    's = int(a[4]); w, h = im.size',
    'short, long = (w, h) if w <= h else (h, w)',
    'nw, nh = (s, int(s * long / short)) if w <= h else (int(s * long / short), s)',
    'im = im.resize((nw, nh), Image.BICUBIC)',
    'left, top = int(round((nw - s) / 2.0)), int(round((nh - s) / 2.0))',
    'sys.stdout.buffer.write(im.crop((left, top, left + s, top + s)).tobytes())',
  ].join('\n');
  // API_LLaVA: expand2square with the processor's mean, then CLIPImageProcessor's BICUBIC resize.
  const LLAVA = [
    's = int(a[4]); mean = tuple(int(float(v) * 255) for v in a[5].split(",")); w, h = im.size; side = max(w, h)',
    'canvas = Image.new(im.mode, (side, side), mean); canvas.paste(im, ((side - w) // 2, (side - h) // 2))',
    'sys.stdout.buffer.write(canvas.resize((s, s), Image.BICUBIC).tobytes())',
  ].join('\n');
  // Sizes that shrink, enlarge, are square, and whose crop offsets land on .5 (where round() is not Math.round).
  const sizes: Array<[number, number]> = [[200, 150], [60, 40], [333, 250], [96, 101], [101, 96], [31, 96], [64, 40], [96, 96], [7, 1000]];

  it('CLIP, geometry reference: shorter side, BICUBIC, centre crop — byte for byte', async () => {
    for (const [k, [w, h]] of sizes.entries()) {
      const img = testImage(w, h, 3 + k);
      const ours = (await clipInput(img, 96, 'reference')).rgb;
      assert.equal(firstDifference(ours, pillow(OPEN_CLIP, 'RGB', img.rgb, w, h, 96)), -1, `${w}×${h}`);
    }
  });

  it('CLIP and LLaVA, geometry full: the whole image to s × s with PIL BICUBIC', async () => {
    for (const [w, h] of sizes) {
      const img = testImage(w, h, 5);
      const theirs = pilResize('RGB', img.rgb, w, h, 96, 96, 'BICUBIC');
      assert.equal(firstDifference((await clipInput(img, 96, 'full')).rgb, theirs), -1, `CLIP ${w}×${h}`);
      assert.equal(firstDifference((await llavaInput(img, 96, 'full', [0.5, 0.5, 0.5])).rgb, theirs), -1, `LLaVA ${w}×${h}`);
    }
  });

  it('LLaVA, geometry reference: expand2square with the mean, then BICUBIC — byte for byte', async () => {
    const mean = [0.48145466, 0.4578275, 0.40821073];
    for (const [k, [w, h]] of sizes.entries()) {
      const img = testImage(w, h, 9 + k);
      const ours = (await llavaInput(img, 96, 'reference', mean)).rgb;
      assert.equal(firstDifference(ours, pillow(LLAVA, 'RGB', img.rgb, w, h, 96, mean.join(','))), -1, `${w}×${h}`);
    }
  });

  it("rounds the crop offset as Python's round() and sizes the resize as torchvision does", () => {
    assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4, 2.6].map(roundHalfEven), [0, 2, 2, 4, 2, 3]);
    // int(224 * 45 / 5) = 2016; the former floor(45 * (224 / 5)) gave 2015 (the product's rounding).
    assert.deepEqual(shorterSideTo(5, 45, 224), { width: 224, height: 2016 });
    assert.deepEqual(shorterSideTo(200, 150, 96), { width: 128, height: 96 });
  });

  it('CLIP, geometry reference, on files in their own PIL mode: palette and 1-bit images resized NEAREST, RGBA and LA premultiplied, as the transform does', async () => {
    // open_clip's transform resizes the image PIL opened (mode P, 1, L, RGB) and converts to RGB
    // after the crop; Image.resize falls back to NEAREST for modes P and 1.
    const dir = tempDir('ap-modes-');
    const make = [
      "im = Image.new('RGB', (97, 61), (10, 200, 30)); im.paste((255, 0, 0), (5, 5, 40, 33)); im.paste((0, 0, 255), (50, 20, 90, 58))",
      "im.convert('P', palette=Image.ADAPTIVE, colors=8).save(d + '/palette.png')",
      "im.convert('P', palette=Image.ADAPTIVE, colors=8).save(d + '/palette.gif')",
      "im.convert('L').point(lambda v: 255 if v > 90 else 0).convert('1').save(d + '/onebit.png')",
      "im.convert('L').save(d + '/gray.png')",
      "im.save(d + '/rgb.png')",
      // Partial and full transparency over colours that differ, where premultiplying matters.
      "a = Image.linear_gradient('L').resize((97, 61)); a.paste(0, (60, 0, 97, 20)); rgba = im.copy(); rgba.putalpha(a); rgba.save(d + '/rgba.png')",
      "la = im.convert('L'); la.putalpha(a); la.save(d + '/la.png')",
    ].join('\n');
    const made = spawnSync(PYTHON, ['-c', `import sys; from PIL import Image; d = sys.argv[1]\n${make}`, dir]);
    assert.equal(made.status, 0, made.stderr?.toString());
    const reference = [
      'import sys; from PIL import Image; im = Image.open(sys.argv[1]); s = int(sys.argv[2]); w, h = im.size',
      'short, long = (w, h) if w <= h else (h, w)',
      'nw, nh = (s, int(s * long / short)) if w <= h else (int(s * long / short), s)',
      'im = im.resize((nw, nh), Image.BICUBIC)',
      'left, top = int(round((nw - s) / 2.0)), int(round((nh - s) / 2.0))',
      "sys.stdout.buffer.write(im.crop((left, top, left + s, top + s)).convert('RGB').tobytes())",
    ].join('\n');
    for (const name of ['palette.png', 'palette.gif', 'onebit.png', 'gray.png', 'rgb.png', 'rgba.png', 'la.png']) {
      const file = path.join(dir, name);
      const theirs = spawnSync(PYTHON, ['-c', reference, file, '24'], { maxBuffer: 1 << 24 });
      assert.equal(theirs.status, 0, theirs.stderr?.toString());
      const img = await decodeImage(file, { alpha: alphaForGeometry('reference') });
      assert.equal(firstDifference((await clipInput(img, 24, 'reference')).rgb, theirs.stdout), -1, name);
    }
  });
});

