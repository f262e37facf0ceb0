/** Preprocessing straight from sharp's bytes to CLIP's input gives the image processor's tensor, bit for bit. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH_SPIN_WAIT } from '../src/core/defaults';
import { AttentionPromptEngine, directNormaliser, spinningOption } from '../src/core/engine';
import { decodeImage, fromDecoded } from '../src/core/image';
import { loadTransformers } from '../src/core/transformers';
import { fixtureModel, rectangleImage, rng, tempDir } from './helpers';

describe('preprocessing without the image processor', () => {
  it('equals Transformers.js’s CLIPImageProcessor output exactly, for photos of several sizes', async () => {
    const engine = await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir: tempDir(), threads: 1 });
    try {
      const t = await loadTransformers();
      const processor = (engine as unknown as { processor: (img: unknown) => Promise<{ pixel_values: { data: Float32Array } }> }).processor;
      const r = rng(5);
      for (const [w, h] of [[320, 240], [224, 224], [150, 400]]) {
        const png = await rectangleImage(w, h, 'yellow', { left: Math.floor(r() * (w / 2)), top: Math.floor(r() * (h / 2)), width: Math.floor(w / 3), height: Math.floor(h / 3) }, Math.floor(r() * 255));
        const img = await decodeImage(png);
        const direct = await engine.pixelValues(img, 'full');
        const s = engine.imageSize;
        const rgb = await fromDecoded(img).resize(s, s, { fit: 'fill', kernel: 'cubic' }).removeAlpha().raw().toBuffer();
        const viaProcessor = (await processor(new t.RawImage(new Uint8ClampedArray(rgb), s, s, 3))).pixel_values.data;
        assert.deepEqual(Array.from(direct), Array.from(viaProcessor), `${w}×${h}`);
      }
    } finally {
      await engine.dispose();
    }
  });

  it('falls back to the processor for settings it does not reproduce', () => {
    assert.equal(directNormaliser({ do_rescale: true, do_normalize: true, image_mean: [0, 0, 0], image_std: [1, 1, 1], do_pad: true }, 224), undefined);
    assert.equal(directNormaliser({ do_rescale: true, do_center_crop: true, crop_size: { width: 200, height: 200 } }, 224), undefined);
    assert.ok(directNormaliser({ do_rescale: true, do_center_crop: true, crop_size: 224 }, 224));
  });
});

describe('cold start: the text tower and the vision session are never resident together', () => {
  it('embeds an expected new question during load(), then releases the text model before the vision session', async () => {
    const cacheDir = tempDir();
    const model = fixtureModel('tiny-clip');
    const first = await AttentionPromptEngine.load({ model, cacheDir, threads: 1, expectQuestions: ['a red square', ' a red square ', 'a blue circle'] });
    // Before, the text tower loaded beside the vision session and stayed: both resident at once.
    assert.equal(first.textTowerLoaded, false, 'new questions: embedded, then the text model released');
    assert.ok(first.loadTimings['embed questions (text tower loaded and released)'] > 0, JSON.stringify(first.loadTimings));
    const img = await decodeImage(await rectangleImage(64, 48, 'red', { left: 8, top: 8, width: 20, height: 16 }));
    const r = await first.attribute(img, { question: 'a blue circle' });
    assert.equal(first.textTowerLoaded, false, 'the first heatmap finds its embedding in memory');
    assert.equal(r.timings['load text model'], undefined);
    await first.dispose();
    const second = await AttentionPromptEngine.load({ model, cacheDir, threads: 1, expectQuestions: ['a red square'] });
    assert.equal(second.textTowerLoaded, false, 'known question: the text model stays unloaded');
    await second.embedText('a red square');
    assert.equal(second.textTowerLoaded, false);
    await second.dispose();
  });
});


describe('ONNX Runtime threads that do not spin (the batch runner)', () => {
  it('spinWait false asks ONNX Runtime not to spin and gives the same maps as the default', async () => {
    assert.deepEqual(spinningOption(false), { extra: { session: { 'intra_op.allow_spinning': '0' } } });
    assert.deepEqual(spinningOption(undefined), {});
    assert.equal(BATCH_SPIN_WAIT, false);
    const cacheDir = tempDir();
    const spinning = await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir, threads: 2 });
    const quiet = await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir, threads: 2, spinWait: false });
    try {
      const img = await decodeImage(await rectangleImage(160, 120, 'red', { left: 20, top: 30, width: 50, height: 40 }, 90));
      const a = await spinning.attribute(img, { question: 'red' });
      const b = await quiet.attribute(img, { question: 'red' });
      assert.deepEqual(Array.from(b.mask), Array.from(a.mask));
    } finally {
      await spinning.dispose();
      await quiet.dispose();
    }
  });
});
