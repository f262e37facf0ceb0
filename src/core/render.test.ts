import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecodedImage, fromDecoded } from './image';
import { VIRIDIS_LUT, blendTowardGray, heatmapOverlay, maskedImage, maskedImageWithSharp } from './render';

/** An image holding every (pixel value, mask value) pair: row a is mask a, column p is value p. */
function everyPair(): { img: DecodedImage; mask: Buffer } {
  const rgb = Buffer.alloc(256 * 256 * 3);
  const mask = Buffer.alloc(256 * 256);
  for (let a = 0; a < 256; a++) {
    for (let p = 0; p < 256; p++) {
      const i = a * 256 + p;
      rgb.set([p, 255 - p, (p * 7) & 255], i * 3);
      mask[i] = a;
    }
  }
  const img: DecodedImage = { source: 'pairs', width: 256, height: 256, rgb, format: 'raw', info: { hadAlpha: false }, release: () => undefined };
  return { img, mask };
}

describe('masked image (main.py:28, image · m + (1 − m) · gray)', () => {
  it('the one-pass blend equals sharp flattening the image with the mask as alpha, for every pixel, mask and gray value', async () => {
    const { img, mask } = everyPair();
    for (let gray = 0; gray < 256; gray += 1) {
      const expected = await (await maskedImageWithSharp(img, mask, gray)).raw().toBuffer();
      const actual = blendTowardGray(img.rgb, mask, gray);
      assert.ok(actual.equals(expected), `gray ${gray}: first difference at byte ${actual.findIndex((v, i) => v !== expected[i])}`);
    }
  });

  it('maskedImage gives the blend for integer gray and sharp for a fractional one', async () => {
    const { img, mask } = everyPair();
    const one = await (await maskedImage(img, mask, 128)).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([one.info.width, one.info.height, one.info.channels], [256, 256, 3]);
    assert.ok(one.data.equals(blendTowardGray(img.rgb, mask, 128)));
    const fractional = await (await maskedImage(img, mask, 100.5)).raw().toBuffer();
    assert.ok(fractional.equals(await (await maskedImageWithSharp(img, mask, 100.5)).raw().toBuffer()));
    // m = 1 keeps the pixel, m = 0 is the gray level.
    assert.deepEqual([...one.data.subarray(255 * 256 * 3, 255 * 256 * 3 + 6)], [0, 255, 0, 1, 254, 7]);
    assert.deepEqual([...one.data.subarray(0, 6)], [128, 128, 128, 128, 128, 128]);
    await assert.rejects(maskedImage(img, mask, 256), /Gray level must be 0–255/);
  });

  it('refuses a mask whose size is not the image size', () => {
    assert.throws(() => blendTowardGray(Buffer.alloc(12), Buffer.alloc(3), 0), /the mask has 3 pixels, the image 4/);
  });
});

describe('heatmap overlay (viridis over the image at an opacity)', () => {
  it('is RGB, rounds (c·a + p·(255 − a)) / 255 for every pixel and mask value, and stays within one level of sharp compositing RGBA', async () => {
    const { img, mask } = everyPair();
    for (const opacity of [0, 0.25, 0.5, 0.8, 1]) {
      const a = Math.round(opacity * 255);
      const { data, info } = await heatmapOverlay(img, mask, opacity).raw().toBuffer({ resolveWithObject: true });
      assert.equal(info.channels, 3);
      for (let i = 0; i < mask.length; i++) {
        for (let c = 0; c < 3; c++) {
          const want = Math.round((VIRIDIS_LUT[mask[i] * 3 + c] * a + img.rgb[i * 3 + c] * (255 - a)) / 255);
          if (data[i * 3 + c] !== want) assert.fail(`opacity ${opacity}, pixel ${i}, channel ${c}: ${data[i * 3 + c]} vs ${want}`);
        }
      }
      // What the overlay was before: sharp's composite of the RGBA colours.
      const rgba = Buffer.alloc(mask.length * 4);
      for (let i = 0; i < mask.length; i++) {
        rgba.set(VIRIDIS_LUT.subarray(mask[i] * 3, mask[i] * 3 + 3), i * 4);
        rgba[i * 4 + 3] = a;
      }
      const composite = await fromDecoded(img).composite([{ input: rgba, raw: { width: 256, height: 256, channels: 4 } }]).raw().toBuffer();
      let worst = 0;
      for (let i = 0; i < mask.length; i++) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(composite[i * 4 + c] - data[i * 3 + c]));
      assert.ok(worst <= 1, `opacity ${opacity}: ${worst} levels from sharp's composite`);
    }
    assert.throws(() => heatmapOverlay(img, mask, 1.5), /Overlay opacity must be 0–1/);
  });
});
