/**
 * Pointing tests on the planted fixture, whose right answer is known by construction: the
 * colour word in the question lights up the region of that colour (see test/fixtures/generate.py).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { AttentionPromptEngine } from '../src/core/engine';
import { decodeImage } from '../src/core/image';
import { renderOutputs } from '../src/core/render';
import { Region, argmax, fixtureModel, inside, rectangleImage, tempDir } from './helpers';
import { peak, point, randomCases } from './pointing';

for (const model of ['planted-clip', 'planted-clip-opset17']) {
  describe(`planted pointing (${model})`, () => {
    let engine: AttentionPromptEngine;
    before(async () => {
      engine = await AttentionPromptEngine.load({ model: fixtureModel(model), cacheDir: tempDir(), threads: 1 });
    });
    after(() => engine.dispose());

    it('the heatmap peaks inside the named colour’s region (colours, positions, sizes, aspect ratios)', async () => {
      const cases = randomCases(model === 'planted-clip' ? 11 : 12, 36);
      let inCount = 0;
      const failures: string[] = [];
      for (const c of cases) {
        const png = await rectangleImage(c.width, c.height, c.colour, c.region);
        const p = await point(engine, png, c.question, c.region);
        const ok = inside(c.region, p.x, p.y) && p.clsHit && p.patchHit && p.meanIn > p.meanOut + 0.3;
        if (ok) inCount++;
        else failures.push(`${c.colour} ${c.width}×${c.height} ${JSON.stringify(c.region)} peak (${p.x},${p.y}) in ${p.meanIn.toFixed(2)} out ${p.meanOut.toFixed(2)} cls ${p.clsHit} patch ${p.patchHit}`);
      }
      assert.equal(inCount, cases.length, failures.join('\n'));
    });

    it('two colours in one image: the question decides which lights up', async () => {
      const width = 600, height = 300;
      const redRegion = { left: 30, top: 60, width: 150, height: 150 };
      const blueRegion = { left: 400, top: 100, width: 160, height: 150 };
      const patch = (rgb: [number, number, number], reg: Region) =>
        sharp({ create: { width: reg.width, height: reg.height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
      const png = await sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } })
        .composite([
          { input: await patch([255, 0, 0], redRegion), left: redRegion.left, top: redRegion.top },
          { input: await patch([0, 0, 255], blueRegion), left: blueRegion.left, top: blueRegion.top },
        ])
        .png()
        .toBuffer();
      const red = await point(engine, png, 'what is the red thing?', redRegion);
      const blue = await point(engine, png, 'what is the blue thing?', blueRegion);
      assert.ok(inside(redRegion, red.x, red.y), `red peak at ${red.x},${red.y}`);
      assert.ok(inside(blueRegion, blue.x, blue.y), `blue peak at ${blue.x},${blue.y}`);
    });

    it('a hint text steers the map while the question stays as asked', async () => {
      const region = { left: 200, top: 40, width: 120, height: 100 };
      const png = await rectangleImage(400, 300, 'green', region);
      const img = await decodeImage(png);
      const hinted = await engine.attribute(img, { question: 'what is going on here?', hint: 'green' });
      const out = await renderOutputs(img, hinted.mask, hinted.grid, { interpolation: 'lanczos3', gray: 0 });
      const { x, y } = peak(out.fullMask, img.width);
      assert.ok(inside(region, x, y), `peak at ${x},${y}`);
      assert.equal(hinted.text.text, 'green');
    });
  });
}

describe('planted pointing: EXIF orientation and geometry', () => {
  let engine: AttentionPromptEngine;
  before(async () => {
    engine = await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir: tempDir(), threads: 1 });
  });
  after(() => engine.dispose());

  it('honours EXIF orientation in a rotated JPEG', async () => {
    // Upright (as displayed): 480×320 with the red region at the top right.
    const region = { left: 330, top: 20, width: 120, height: 100 };
    const upright = await rectangleImage(480, 320, 'red', region);
    // Stored rotated 90° counter-clockwise; EXIF orientation 6 tells viewers to rotate it back clockwise.
    const stored = await sharp(upright).rotate(-90).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const meta = await sharp(stored).metadata();
    assert.equal(meta.orientation, 6);
    assert.deepEqual([meta.width, meta.height], [320, 480]);
    const p = await point(engine, stored, 'red', region);
    assert.deepEqual([p.img.width, p.img.height], [480, 320]);
    assert.ok(inside(region, p.x, p.y), `peak at ${p.x},${p.y}`);
    // Ignoring the orientation would have looked in the stored frame: the region there is elsewhere.
    const storedRegion = { left: region.top, top: 480 - region.left - region.width, width: region.height, height: region.width };
    assert.ok(!inside(storedRegion, p.x, p.y));
  });

  it('square images: full and reference geometries agree', async () => {
    const region = { left: 40, top: 150, width: 90, height: 90 };
    const img = await decodeImage(await rectangleImage(300, 300, 'yellow', region));
    const full = await engine.attribute(img, { question: 'yellow', geometry: 'full' });
    const ref = await engine.attribute(img, { question: 'yellow', geometry: 'reference' });
    for (let i = 0; i < full.mask.length; i++) assert.ok(Math.abs(full.mask[i] - ref.mask[i]) < 1e-9);
  });

  it('non-square images: the reference geometry cannot see outside its centre crop, full can', async () => {
    // Wide image, blue region at the far left: outside the centre crop.
    const region = { left: 10, top: 100, width: 110, height: 100 };
    const img = await decodeImage(await rectangleImage(900, 300, 'blue', region));
    const full = await engine.attribute(img, { question: 'blue', geometry: 'full' });
    const ref = await engine.attribute(img, { question: 'blue', geometry: 'reference' });
    const peakX = (m: Float64Array, cols: number) => ((argmax(m) % cols) + 0.5) / cols * img.width;
    assert.ok(peakX(full.mask, full.grid[1]) < region.left + region.width + 900 / 14);
    assert.ok(peakX(ref.mask, ref.grid[1]) > region.left + region.width, 'the reference crop misses the region');
  });
});

describe('cancellation', () => {
  it('an aborted signal stops the heatmap with a cancelled error', async () => {
    const engine = await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir: tempDir(), threads: 1 });
    try {
      const img = await decodeImage(await rectangleImage(100, 100, 'red', { left: 0, top: 0, width: 50, height: 50 }));
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(engine.attribute(img, { question: 'red', signal: controller.signal }), { code: 'cancelled' });
    } finally {
      await engine.dispose();
    }
  });
});
