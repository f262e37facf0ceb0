/**
 * Geometries that would build an image far larger than the input (issue 24 §2): a 274-byte
 * 1×100000 PNG under `reference` asked for 224×22,400,000 pixels (over 6 GB in 79 s), a 2×50000
 * one reached 3.8 GB before an unexplained "pixel limit" error, and LLaVA's pad makes a
 * 100000×100000 square. Each is refused before allocating, saying what and what to do.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { MAX_INTERMEDIATE_PIXELS } from '../src/core/defaults';
import { AttentionPromptEngine } from '../src/core/engine';
import { decodeImage } from '../src/core/image';
import { LocalVlm } from '../src/core/lvlm/localVlm';
import { ROOT, fixtureModel, tempDir } from './helpers';

const strip = async (width: number, height: number) => decodeImage(await sharp({ create: { width, height, channels: 3, background: { r: 90, g: 20, b: 200 } } }).png().toBuffer(), {}, `strip-${width}x${height}.png`);

describe('geometry "reference" with extreme aspect ratios (CLIP)', () => {
  let engine: AttentionPromptEngine;
  after(async () => engine?.dispose());

  for (const [w, h] of [[1, 100_000], [2, 50_000], [100_000, 1]]) {
    it(`${w}×${h}: refused before the resize, naming the sizes and the way out`, { timeout: 20_000 }, async () => {
      engine ??= await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir: tempDir(), threads: 1 });
      const s = engine.imageSize;
      const long = Math.floor((Math.max(w, h) * s) / Math.min(w, h));
      const want = w < h ? `${s}×${long}` : `${long}×${s}`;
      await assert.rejects(engine.attribute(await strip(w, h), { question: 'a purple line', geometry: 'reference' }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'image-too-large', e.message);
        assert.ok(e.message.includes(`is ${w}×${h}`) && e.message.includes(`a ${want} image`), e.message);
        assert.match(e.message, new RegExp(`limit is ${MAX_INTERMEDIATE_PIXELS / 1e6} MP.*geometry "full"`));
        return true;
      });
    });
  }

  it('the same images still work under "full", and a 10:1 panorama under "reference"', { timeout: 60_000 }, async () => {
    engine ??= await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir: tempDir(), threads: 1 });
    const full = await engine.attribute(await strip(1, 100_000), { question: 'a purple line', geometry: 'full' });
    assert.equal(full.mask.length, full.grid[0] * full.grid[1]);
    const wide = await engine.attribute(await strip(2240, 224), { question: 'a purple line', geometry: 'reference' });
    assert.equal(wide.geometry, 'reference');
  });
});

describe('geometry "reference" with extreme aspect ratios (local LLaVA pad)', () => {
  it('1×100000: the 100000×100000 square is refused before it is built', { timeout: 60_000 }, async () => {
    const v = new LocalVlm({ model: path.join(ROOT, 'test', 'fixtures', 'llava', 'tiny-llava'), cacheDir: tempDir(), offline: true, threads: 1 });
    try {
      await assert.rejects(v.lvlmMap({ image: await strip(1, 100_000), question: 'what is it?', geometry: 'reference' }), {
        code: 'image-too-large',
        message: /is 1×100000: geometry "reference" pads it to a square .* needs a 100000×100000 image/,
      });
    } finally {
      await v.dispose();
    }
  });
});
