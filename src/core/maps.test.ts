import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../../test/helpers';
import { boxFilter, enhance, invertedMinmax, mergeMaps, minmax, softOr } from './maps';

const close = (a: ArrayLike<number>, b: number[], tol = 1e-9) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};
const f = (xs: number[]) => Float64Array.from(xs);

interface OracleCase {
  rows: number;
  cols: number;
  contrast: number;
  kernel: number;
  psiCls: number[];
  psiTok: number[];
  clsMap: number[];
  patchMap: number[];
  mask: number[];
}

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

  it('merge_mask matches maps computed in PyTorch from the reference formulas', () => {
    // test/fixtures/maps_oracle.py writes the oracle: torch's Conv2d with replicate padding, its
    // unbiased std and sigmoid, on the grids of ViT-L/14-336, B/16, B/32 and a non-square one.
    const oracle: { cases: OracleCase[] } = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'oracles', 'maps.json'), 'utf8'));
    assert.ok(oracle.cases.length >= 5);
    for (const c of oracle.cases) {
      const label = `${c.rows}×${c.cols}, contrast ${c.contrast}, kernel ${c.kernel}`;
      const got = mergeMaps(f(c.psiCls), f(c.psiTok), c.rows, c.cols, { contrast: c.contrast, kernel: c.kernel });
      close(got.clsMap, c.clsMap, 1e-12);
      close(got.patchMap, c.patchMap, 1e-12);
      close(got.mask, c.mask, 1e-12);
      assert.equal(got.degenerate, false, label);
    }
  });

  it('a map with no information keeps the whole image (mask of ones) and says so', () => {
    const got = mergeMaps(f([1, 1, 1, 1]), f([2, 2, 2, 2]), 2, 2, { contrast: 5, kernel: 1 });
    close(got.mask, [1, 1, 1, 1]);
    assert.equal(got.degenerate, true);
  });
});
