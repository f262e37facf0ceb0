/** Preprocessing straight from the resized bytes to CLIP's input gives the image processor's tensor, bit for bit. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH_SPIN_WAIT, GEOMETRIES, type Geometry } from '../src/core/defaults';
import { directNormaliser } from '../src/core/directNormaliser';
import { AttentionPromptEngine } from '../src/core/engine';
import { spinningOption } from '../src/core/visionSession';
import { decodeImage } from '../src/core/image';
import { clipInput } from '../src/core/modelInput';
import { loadTransformers } from '../src/core/transformers';
import { fixtureModel, rectangleImage, rng, tempDir } from './helpers';
import { pillow } from './pillow';

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
        const rgb = (await clipInput(img, s, 'full')).rgb;
        const viaProcessor = (await processor(new t.RawImage(new Uint8ClampedArray(rgb), s, s, 3))).pixel_values.data;
        assert.deepEqual(Array.from(direct), Array.from(viaProcessor), `${w}×${h}`);
      }
    } finally {
      await engine.dispose();
    }
  });

  it("CLIP's input on images of other sizes is the reference's, PIL BICUBIC (both geometries)", async () => {
    // Before, sharp resized (libvips' cubic): up to 6e-2 off in the maps on a 96-px export.
    const engine = await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir: tempDir(), threads: 1 });
    try {
      const s = engine.imageSize;
      const oracle: Record<Geometry, string> = {
        full: 'im = im.resize((s, s), Image.BICUBIC)',
        reference: 'w, h = im.size; short, long = min(w, h), max(w, h); n = int(s * long / short); im = im.resize((s, n) if w <= h else (n, s), Image.BICUBIC); l, t = int(round((im.size[0] - s) / 2.0)), int(round((im.size[1] - s) / 2.0)); im = im.crop((l, t, l + s, t + s))',
      };
      for (const [w, h] of [[200, 150], [60, 40], [333, 250]]) {
        const img = await decodeImage(await rectangleImage(w, h, 'red', { left: Math.floor(w / 5), top: Math.floor(h / 4), width: Math.floor(w / 3), height: Math.floor(h / 3) }, 90));
        for (const geometry of GEOMETRIES) {
          const oracleRgb = pillow(`s = int(a[4])\n${oracle[geometry]}\nsys.stdout.buffer.write(im.tobytes())`, 'RGB', img.rgb, w, h, s);
          const pilInput = await engine.pixelValues({ ...img, width: s, height: s, rgb: oracleRgb }, 'full');
          assert.deepEqual(Array.from(await engine.pixelValues(img, geometry)), Array.from(pilInput), `${w}×${h} ${geometry}`);
        }
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
