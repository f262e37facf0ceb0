import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pilResize } from '../../test/pillow';
import { INTERPOLATIONS, RESIZE_FILTERS, type Interpolation } from './defaults';
import { resizeGray } from './resample';
import { fullResolutionMask, maskToBytes } from './render';

describe('the mask resized to the image as PIL does (main.py:20-21)', () => {
  // Grids of CLIP B/16 (14), L/14-336 (24), the LVLM (27), an odd one; sizes up, down and mixed.
  const cases: Array<[number, number, number, number]> = [
    [14, 14, 640, 480],
    [24, 24, 333, 517],
    [27, 27, 1000, 750],
    [7, 5, 50, 3],
    [24, 24, 10, 9],
    [14, 14, 1, 1],
  ];
  for (const method of RESIZE_FILTERS) {
    it(`PIL ${method}: byte for byte`, () => {
      let seed = 7;
      for (const [inW, inH, outW, outH] of cases) {
        // Smooth regions, hard edges and the extremes 0 and 255, where clipping matters.
        const src = Uint8Array.from({ length: inW * inH }, (_, i) => {
          seed = (seed * 1103515245 + 12345) >>> 0;
          return i % 9 === 0 ? 255 : i % 11 === 0 ? 0 : (seed >>> 16) & 255;
        });
        const ours = resizeGray(src, inW, inH, outW, outH, method);
        const theirs = pilResize('L', src, inW, inH, outW, outH, method);
        const first = ours.findIndex((v, i) => v !== theirs[i]);
        assert.equal(ours.length, outW * outH);
        assert.ok(first === -1, `${inW}×${inH} → ${outW}×${outH}: first difference at pixel ${first}: ${ours[first]} vs PIL ${theirs[first]}`);
      }
    });
  }

  it('is what the heatmap uses: the full-resolution mask is PIL\'s, and Lanczos is not bicubic', async () => {
    const mask = Float64Array.from({ length: 14 * 14 }, (_, i) => ((i * 37) % 101) / 100);
    const bytes = maskToBytes(mask);
    const lanczos = await fullResolutionMask(mask, 14, 14, 640, 480, 'lanczos3');
    const cubic = await fullResolutionMask(mask, 14, 14, 640, 480, 'cubic');
    // Before, sharp enlarged with libvips' bicubic interpolator for every kernel: these were equal.
    assert.ok(!lanczos.equals(cubic), 'lanczos3 and cubic differ');
    assert.ok(lanczos.equals(pilResize('L', bytes, 14, 14, 640, 480, 'LANCZOS')), 'lanczos3 is PIL LANCZOS');
    assert.ok(cubic.equals(pilResize('L', bytes, 14, 14, 640, 480, 'BICUBIC')), 'cubic is PIL BICUBIC');
  });

  it('every setting value, kept as first published, is the Pillow filter it names', async () => {
    const mask = Float64Array.from({ length: 7 * 5 }, (_, i) => ((i * 13) % 29) / 28);
    const bytes = maskToBytes(mask);
    const settings: Record<Interpolation, string> = { lanczos3: 'LANCZOS', cubic: 'BICUBIC', linear: 'BILINEAR', nearest: 'NEAREST' };
    assert.deepEqual(Object.keys(settings).sort(), [...INTERPOLATIONS].sort());
    for (const [value, pil] of Object.entries(settings)) {
      assert.ok((await fullResolutionMask(mask, 5, 7, 50, 31, value as Interpolation)).equals(pilResize('L', bytes, 7, 5, 50, 31, pil)), `${value} is PIL ${pil}`);
    }
  });

  it('refuses bytes that do not make the stated size', () => {
    assert.throws(() => resizeGray(new Uint8Array(10), 3, 3, 5, 5, 'LANCZOS'), /10 bytes for a 3×3 image/);
  });
});
