import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boxFilter, enhance, invertedMinmax, mergeMaps, minmax, softOr } from './maps';

const close = (a: ArrayLike<number>, b: number[], tol = 1e-9) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};
const f = (xs: number[]) => Float64Array.from(xs);

describe('reference mask formulas (main.py)', () => {
  it('minmax: (x − min)/(max − min)', () => {
    close(minmax(f([2, 4, 3, 6])), [0, 0.5, 0.25, 1]);
  });

  it('inverted minmax: (max − x)/(max − min)', () => {
    close(invertedMinmax(f([2, 4, 3, 6])), [1, 0.5, 0.75, 0]);
  });

  it('constant maps normalise to zeros instead of NaN', () => {
    close(minmax(f([3, 3, 3])), [0, 0, 0]);
    close(invertedMinmax(f([3, 3, 3])), [0, 0, 0]);
  });

  it('enhance: sigmoid(coe·z) with torch’s unbiased std', () => {
    // x = [0, 1]: mean 0.5, unbiased std = sqrt(0.5) → z = ∓0.70711; coe 5 → sigmoid(∓3.53553)
    close(enhance(f([0, 1]), 5), [0.028318, 0.971682], 1e-6);
    // x = [0, 0, 3]: mean 1, unbiased std = sqrt((1+1+4)/2) = sqrt(3); z = −1/√3, −1/√3, 2/√3; coe 2
    close(enhance(f([0, 0, 3]), 2), [1 / (1 + Math.exp(2 / Math.sqrt(3))), 1 / (1 + Math.exp(2 / Math.sqrt(3))), 1 / (1 + Math.exp(-4 / Math.sqrt(3)))]);
    // A biased std would give z = ∓1 for [0, 1], i.e. sigmoid(∓5) = 0.00669: make sure we are not that.
    assert.ok(Math.abs(enhance(f([0, 1]), 5)[0] - 0.006693) > 0.01);
  });

  it('box filter with replicate padding', () => {
    // 1×3 row [0, 0, 3], k = 3: windows (clamped) are cols {0,0,1}, {0,1,2}, {1,2,2}, each row thrice.
    close(boxFilter(f([0, 0, 3]), 1, 3, 3), [0, 1, 2]);
    // One 9 in the centre of 3×3: every clamped window contains it exactly once.
    close(boxFilter(f([0, 0, 0, 0, 9, 0, 0, 0, 0]), 3, 3, 3), [1, 1, 1, 1, 1, 1, 1, 1, 1]);
    // Corner value on 3×3: replicate padding counts it 4 times in its own window.
    close(boxFilter(f([9, 0, 0, 0, 0, 0, 0, 0, 0]), 3, 3, 3), [4, 2, 0, 2, 1, 0, 0, 0, 0]);
    // k = 1 is the identity.
    close(boxFilter(f([1, 2, 3, 4]), 2, 2, 1), [1, 2, 3, 4]);
    assert.throws(() => boxFilter(f([1, 2]), 1, 2, 2), /odd/);
  });

  it('soft OR: c + p − c·p', () => {
    close(softOr(f([0, 0.5, 1, 0.2]), f([0, 0.5, 0, 0.5])), [0, 0.75, 1, 0.6]);
  });

  it('merge_mask composes the steps in the reference order', () => {
    const psiCls = f([1, 5, 2, 8, 3, 0, 4, 6, 7]);
    const psiTok = f([9, 1, 4, 2, 8, 3, 7, 5, 6]);
    const p = { contrast: 5, kernel: 3 };
    const got = mergeMaps(psiCls, psiTok, 3, 3, p);
    const cls = boxFilter(enhance(minmax(psiCls), 5), 3, 3, 3);
    const patch = boxFilter(invertedMinmax(psiTok), 3, 3, 3);
    close(got.mask, Array.from(minmax(softOr(cls, patch))));
    close(got.clsMap, Array.from(minmax(psiCls)));
    close(got.patchMap, Array.from(invertedMinmax(psiTok)));
    assert.equal(got.degenerate, false);
    assert.equal(Math.min(...got.mask), 0);
    assert.equal(Math.max(...got.mask), 1);
  });

  it('a map with no information keeps the whole image (mask of ones) and says so', () => {
    const got = mergeMaps(f([1, 1, 1, 1]), f([2, 2, 2, 2]), 2, 2, { contrast: 5, kernel: 1 });
    close(got.mask, [1, 1, 1, 1]);
    assert.equal(got.degenerate, true);
  });
});
