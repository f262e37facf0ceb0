/**
 * One check for the mask parameters (issue 23 §1): the CLI, the sweep parser, the engine, the
 * batch runner's re-mask, the LVLM map and the webview message check refuse a value out of
 * bounds with the message maskParameters.ts writes, and accept the bounds themselves.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UsageError, maskSettings } from '../src/cli/options';
import { withMask, type BatchMap } from '../src/core/batch/mapSource';
import { parseSweep } from '../src/core/batch/sweep';
import { CONTRAST, GRAY, KERNEL_SIZES, MASK_DEFAULTS } from '../src/core/defaults';
import { AttentionPromptEngine } from '../src/core/engine';
import { decodeImage } from '../src/core/image';
import type { LocalVlm } from '../src/core/lvlm/localVlm';
import { LvlmMapSource } from '../src/core/lvlm/lvlmMapSource';
import { checkMaskParameters, maskSettingProblem, type MaskParameters } from '../src/core/maskParameters';
import { checkView, type ViewParameters } from '../src/shared/protocol';
import { InvalidMessage } from '../src/shared/validate';
import { PLANTED_CLIP } from './batchSetup';
import { rectangleImage, tempDir } from './helpers';

const CONTRAST_50 = 'Contrast must be a number from 0 to 20, got 50.';
const KERNEL_4 = 'Kernel must be an odd integer from 1 to 9, got 4.';

const VIEW: ViewParameters = { ...MASK_DEFAULTS, layer: null, hint: '', aux: 'clip' };

/** A local model that has been prepared for maps but must never be run: the check comes first. */
const unrunnableLvlm = {
  label: { model: 'fake-llava', where: 'this machine' },
  prepareMap: async () => ({ layer: 1, numLayers: 2 }),
  lvlmMap: async () => assert.fail('the model ran although the mask parameters were out of bounds'),
  dispose: async () => undefined,
} as unknown as LocalVlm;

/** A map as the engine returns it, with raw scores that can be re-masked. */
const clipMap = (): BatchMap => ({
  grid: [2, 2],
  psiCls: Float64Array.from([1, 2, 3, 4]),
  psiTok: Float64Array.from([4, 3, 2, 1]),
  mask: new Float64Array(4),
  maskParameters: { contrast: 5, kernel: 3 },
  timings: {},
});

describe('the one check of the mask parameters', () => {
  it('takes its bounds from defaults.ts: the bounds pass, one step past them fails', () => {
    for (const contrast of [CONTRAST.min, CONTRAST.max!]) checkMaskParameters({ contrast });
    for (const kernel of KERNEL_SIZES) checkMaskParameters({ kernel });
    for (const gray of [GRAY.min, GRAY.max!]) checkMaskParameters({ gray });
    assert.equal(maskSettingProblem('contrast', CONTRAST.max! + 0.5), `Contrast must be a number from 0 to 20, got ${CONTRAST.max! + 0.5}.`);
    assert.equal(maskSettingProblem('contrast', -0.5), 'Contrast must be a number from 0 to 20, got -0.5.');
    assert.equal(maskSettingProblem('contrast', NaN), 'Contrast must be a number from 0 to 20, got NaN.');
    assert.equal(maskSettingProblem('contrast', '5'), 'Contrast must be a number from 0 to 20, got "5".');
    assert.equal(maskSettingProblem('kernel', 4), KERNEL_4);
    assert.equal(maskSettingProblem('gray', 127.5), 'Gray must be an integer from 0 to 255, got 127.5.');
    assert.equal(maskSettingProblem('interpolation', 'fancy'), 'Unknown interpolation "fancy": use lanczos3, cubic, linear, nearest.');
    assert.throws(() => checkMaskParameters({ contrast: 5, kernel: 4 }), { code: 'bad-parameter', message: KERNEL_4 });
  });

  describe('each caller refuses with the same message', () => {
    const work = tempDir('ap-mask-check-');
    let engine: AttentionPromptEngine;
    before(async () => {
      engine = await AttentionPromptEngine.load({ model: PLANTED_CLIP, cacheDir: path.join(work, 'cache'), threads: 1, offline: true });
    });
    after(() => engine.dispose());
    const image = async () => decodeImage(await rectangleImage(32, 32, 'red', { left: 0, top: 0, width: 8, height: 8 }));

    it('the CLI (mask and batch options)', () => {
      assert.throws(() => maskSettings({ contrast: '50' }), (e: Error) => e instanceof UsageError && e.message === `--contrast: ${CONTRAST_50}`);
      assert.throws(() => maskSettings({ kernel: '4' }), (e: Error) => e instanceof UsageError && e.message === `--kernel: ${KERNEL_4}`);
    });

    it('the sweep parser', () => {
      assert.throws(() => parseSweep(['contrast=5,50']), { code: 'bad-parameter', message: `--sweep contrast=5,50: ${CONTRAST_50}` });
      assert.throws(() => parseSweep(['kernel=4']), { code: 'bad-parameter', message: `--sweep kernel=4: ${KERNEL_4}` });
    });

    it('the engine', async () => {
      await assert.rejects(engine.attribute(await image(), { question: 'red', mask: { contrast: 50 } }), { code: 'bad-parameter', message: CONTRAST_50 });
      await assert.rejects(engine.attribute(await image(), { question: 'red', mask: { kernel: 4 } }), { code: 'bad-parameter', message: KERNEL_4 });
    });

    it("the batch runner's re-mask of a sweep setting (CLIP scores and the LVLM's remask)", () => {
      assert.throws(() => withMask(clipMap(), { contrast: 50, kernel: 3 }), { code: 'bad-parameter', message: CONTRAST_50 });
      const lvlm: BatchMap = { ...clipMap(), remask: () => assert.fail('re-masked out of bounds') };
      assert.throws(() => withMask(lvlm, { contrast: 5, kernel: 4 }), { code: 'bad-parameter', message: KERNEL_4 });
      // Within bounds it re-makes the mask.
      const remade = withMask(clipMap(), { contrast: 1, kernel: 1 });
      assert.deepEqual(remade.maskParameters, { contrast: 1, kernel: 1 } satisfies MaskParameters);
    });

    it('the LVLM map, before the model runs', async () => {
      const maps = await LvlmMapSource.load(unrunnableLvlm, false);
      await assert.rejects(maps.attribute(await image(), { question: 'red', mask: { contrast: 50 } }), { code: 'bad-parameter', message: CONTRAST_50 });
      await assert.rejects(maps.attribute(await image(), { question: 'red', mask: { kernel: 4 } }), { code: 'bad-parameter', message: KERNEL_4 });
    });

    it("the webview messages' check (checkView)", () => {
      assert.deepEqual(checkView(VIEW, 'view'), VIEW);
      for (const [field, value, message] of [['contrast', 50, CONTRAST_50], ['kernel', 4, KERNEL_4]] as const) {
        assert.throws(() => checkView({ ...VIEW, [field]: value }, 'view'), (e: Error) => e instanceof InvalidMessage && e.message === `view.${field}: ${message}`);
      }
    });
  });
});
