import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatherSweepArgs } from '../../cli/batch';
import { byLayer, parseSweep, sweepSettings } from './sweep';

describe('sweeps', () => {
  it('parses axes and builds every combination, layer-major', () => {
    const axes = parseSweep(['layer=20,22', 'contrast=3,5', 'kernel=1,3']);
    assert.deepEqual(axes, { layer: [20, 22], contrast: [3, 5], kernel: [1, 3] });
    const settings = sweepSettings(axes, { contrast: 5, kernel: 3 });
    assert.equal(settings.length, 8);
    assert.deepEqual(settings[0], { key: 'layer=20 contrast=3 kernel=1', slug: 'layer20_contrast3_kernel1', layer: 20, mask: { contrast: 3, kernel: 1 } });
    assert.deepEqual(byLayer(settings).map((g) => [g.layer, g.settings.length]), [[20, 4], [22, 4]]);
    // Axes not swept keep the run's value and stay out of the key.
    const only = sweepSettings(parseSweep(['contrast=2.5,5']), { contrast: 5, kernel: 3 });
    assert.deepEqual(only.map((s) => [s.key, s.layer, s.mask.kernel]), [['contrast=2.5', undefined, 3], ['contrast=5', undefined, 3]]);
  });

  it('rejects what it cannot run with a one-line error', () => {
    for (const [spec, msg] of [
      ['gamma=1,2', /axis one of layer, contrast, kernel/],
      ['kernel=2,3', /--sweep kernel=2,3: Kernel must be an odd integer from 1 to 9, got 2\./],
      ['layer=1.5', /integers/],
      ['contrast=3,,5', /not a comma-separated list/],
      ['contrast=3,3', /repeats a value/],
      ['contrast=-1', /--sweep contrast=-1: Contrast must be a number from 0 to 20, got -1\./],
      ['contrast=5,50', /--sweep contrast=5,50: Contrast must be a number from 0 to 20, got 50\./],
      ['contrast=50,5', /--sweep contrast=50,5: Contrast must be a number from 0 to 20, got 50\./],
    ] as const) assert.throws(() => parseSweep([spec]), msg, spec);
    assert.throws(() => parseSweep(['layer=1', 'layer=2']), /names layer twice/);
  });

  it('the CLI gathers the axis=values words after --sweep', () => {
    assert.deepEqual(gatherSweepArgs(['in.jsonl', '--sweep', 'layer=20,22', 'contrast=3,5', '--out', 'o']), { args: ['in.jsonl', '--out', 'o'], sweep: ['layer=20,22', 'contrast=3,5'] });
    assert.deepEqual(gatherSweepArgs(['--sweep=kernel=1,3', 'x']), { args: ['x'], sweep: ['kernel=1,3'] });
    assert.throws(() => gatherSweepArgs(['x', '--sweep', '--out']), /--sweep needs axis=v1,v2/);
  });
});
