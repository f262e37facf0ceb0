/** fp16 exports (float16 weights and intermediate tensors, float32 graph inputs/outputs). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { AttentionPromptEngine } from '../src/core/engine';
import { decodeImage } from '../src/core/image';
import { fixtureModel, inside, rectangleImage, rng, tempDir, argmax } from './helpers';

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i]), (mb += b[i]);
  ma /= n;
  mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('fp16 exports', () => {
  let fp32: AttentionPromptEngine;
  let fp16: AttentionPromptEngine;
  before(async () => {
    const cacheDir = tempDir();
    fp32 = await AttentionPromptEngine.load({ model: fixtureModel('tiny-clip'), cacheDir, threads: 1 });
    fp16 = await AttentionPromptEngine.load({ model: fixtureModel('tiny-clip'), cacheDir, dtype: 'fp16', threads: 1 });
  });
  after(async () => {
    await fp32.dispose();
    await fp16.dispose();
  });

  it('opens the _fp16 files and reads float16 weights', () => {
    assert.match(fp16.graph.modelPath, /prepared-graphs/);
    assert.notEqual(fp16.graph.modelPath, fp32.graph.modelPath);
    const a = fp32.graph.weights.outProj;
    const b = fp16.graph.weights.outProj;
    let maxRel = 0;
    for (let i = 0; i < a.length; i++) maxRel = Math.max(maxRel, Math.abs(a[i] - b[i]) / (Math.abs(a[i]) + 1e-3));
    assert.ok(maxRel < 2e-3, `fp16 weights within half precision of fp32: ${maxRel}`);
    assert.ok(a.some((v, i) => v !== b[i]), 'the fp16 file really is a different (rounded) file');
  });

  it('gives the fp32 maps to within half precision', async () => {
    const r = rng(5);
    const noise = Buffer.from(Array.from({ length: 64 * 64 * 3 }, () => Math.floor(r() * 256)));
    const img = await decodeImage(await sharp(noise, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer());
    const a = await fp32.attribute(img, { question: 'a photo of a cat' });
    const b = await fp16.attribute(img, { question: 'a photo of a cat' });
    assert.ok(correlation(a.psiCls, b.psiCls) > 0.99, `Ψcls correlation ${correlation(a.psiCls, b.psiCls)}`);
    assert.ok(correlation(a.psiTok, b.psiTok) > 0.99, `Ψtok correlation ${correlation(a.psiTok, b.psiTok)}`);
    assert.ok(correlation(a.mask, b.mask) > 0.98, `mask correlation ${correlation(a.mask, b.mask)}`);
  });

  it('the planted fp16 model still points at the named colour', async () => {
    const engine = await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir: tempDir(), dtype: 'fp16', threads: 1 });
    try {
      for (const [colour, region] of [
        ['red', { left: 250, top: 30, width: 120, height: 90 }],
        ['blue', { left: 20, top: 160, width: 100, height: 100 }],
        ['yellow', { left: 150, top: 100, width: 90, height: 80 }],
      ] as const) {
        const img = await decodeImage(await rectangleImage(400, 300, colour, region));
        const a = await engine.attribute(img, { question: `where is the ${colour} box?` });
        const i = argmax(a.mask);
        const [rows, cols] = a.grid;
        const cx = ((i % cols) + 0.5) * (400 / cols);
        const cy = (Math.floor(i / cols) + 0.5) * (300 / rows);
        assert.ok(inside(region, cx, cy), `${colour}: peak cell centre (${cx}, ${cy})`);
      }
    } finally {
      await engine.dispose();
    }
  });
});
