import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAVOURED_THRESHOLD, favouredRegion } from './region';
import { fullResolutionMask } from './render';

describe('favouredRegion', () => {
  it('bounds the pixels that keep at least half the image, and their share', () => {
    // 6×4, kept: (1,1) (4,1) (2,2); a pixel one below the threshold at (5,3) is not kept.
    const mask = new Uint8Array(24);
    mask[1 * 6 + 1] = 255;
    mask[1 * 6 + 4] = FAVOURED_THRESHOLD;
    mask[2 * 6 + 2] = 200;
    mask[3 * 6 + 5] = FAVOURED_THRESHOLD - 1;
    assert.deepEqual(favouredRegion(mask, 6, 4), { box: { left: 1, top: 1, width: 4, height: 2 }, share: 3 / 24 });
  });

  it('is undefined when no pixel is kept, and refuses a mask of the wrong size', () => {
    assert.equal(favouredRegion(new Uint8Array(12).fill(FAVOURED_THRESHOLD - 1), 4, 3), undefined);
    assert.throws(() => favouredRegion(new Uint8Array(11), 4, 3), /11 values for 4×3/);
  });

  it('m = 0.5 counts as kept after rendering (255·m truncated to 127), m just below does not', async () => {
    // A 2×2 grid stretched to 100×60 with nearest neighbour: the top-left cell is the left half, top half.
    const grid = Float64Array.from([0.5, 0.49, 0.49, 0.49]);
    const full = await fullResolutionMask(grid, 2, 2, 100, 60, 'nearest');
    assert.deepEqual(favouredRegion(full, 100, 60), { box: { left: 0, top: 0, width: 50, height: 30 }, share: 0.25 });
  });
});
