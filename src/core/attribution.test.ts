/**
 * The closed form against the reference's own decomposition, computed directly from the
 * exposed block-L tensors of the tiny random fixtures (both attention layouts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixtureModel, rng, tempDir } from '../../test/helpers';
import { classTokenContributions, rawScores, attentionGeometry } from './attribution';
import { AttentionPromptEngine } from './engine';
import { decodeImage } from './image';
import { minmax, invertedMinmax } from './maps';
import sharp from 'sharp';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const [model, layout] of [
  ['tiny-clip', 'BH,T,T'],
  ['tiny-clip-opset17', 'B,H,T,T'],
] as const) {
  describe(`closed form = direct decomposition (${model}, attention [${layout}])`, () => {
    let engine: AttentionPromptEngine;
    before(async () => {
      engine = await AttentionPromptEngine.load({ model: fixtureModel(model), cacheDir: tempDir(), exposeAttentionOutput: true, threads: 1 });
    });
    after(() => engine.dispose());

    async function run(seed: number) {
      const r = rng(seed);
      const noise = Buffer.from(Array.from({ length: 96 * 80 * 3 }, () => Math.floor(r() * 256)));
      const png = await sharp(noise, { raw: { width: 96, height: 80, channels: 3 } }).png().toBuffer();
      const img = await decodeImage(png);
      const result = await engine.attribute(img, { question: 'a photo of a cat' });
      assert.ok(result.block?.attentionOutput, 'attention output exposed');
      return result;
    }

    it(`reads the ${layout} layout and the default layer (layers − 2)`, async () => {
      const result = await run(1);
      const g = attentionGeometry(result.block!, engine.graph.weights.hidden);
      assert.equal(g.layout, layout);
      assert.equal(g.heads, 4);
      assert.equal(result.layer, engine.numLayers - 2);
      assert.deepEqual(result.grid, [8, 8]);
    });

    it('contributions of all source tokens plus b_O reproduce the attention output at the class token', async () => {
      const result = await run(2);
      const block = result.block!;
      const w = engine.graph.weights;
      const c = classTokenContributions(block, w);
      const sum = new Float64Array(w.hidden);
      for (const cm of c) for (let d = 0; d < w.hidden; d++) sum[d] += cm[d];
      for (let d = 0; d < w.hidden; d++) sum[d] += w.outProjBias[d];
      const cls = block.attentionOutput!.subarray(0, w.hidden);
      const scale = Math.max(...Array.from(cls, Math.abs));
      assert.ok(scale > 1e-3, 'non-trivial attention output');
      assert.ok(maxAbsDiff(sum, cls) < 1e-4 * scale + 1e-6, `max diff ${maxAbsDiff(sum, cls)}`);
    });

    it('the reference formulas (hook.py, main.py) give the same normalised maps', async () => {
      const result = await run(3);
      const block = result.block!;
      const w = engine.graph.weights;
      const t = result.text.embedding;
      const T = block.valuesDims[1];
      const c = classTokenContributions(block, w);
      // The reference pushes each term through ln_post with the final class token's statistics
      // and projects: Pᵀ(γ ⊙ (term − μ/N)/σ + β/N) / ‖r‖. Any μ, σ > 0, β, ‖r‖ > 0 are per image;
      // pick arbitrary ones to show they cancel.
      const r = rng(7);
      const mu = r() - 0.5;
      const sigma = 0.5 + r();
      const norm = 0.5 + r();
      const beta = Float64Array.from({ length: w.hidden }, () => r() - 0.5);
      const K = 2 * result.layer + 1;
      const project = (term: ArrayLike<number>, n: number) => {
        const ln = new Float64Array(w.hidden);
        for (let d = 0; d < w.hidden; d++) ln[d] = (w.postLayerNormWeight[d] * (term[d] - mu / n)) / sigma + beta[d] / n;
        let score = 0;
        for (let e = 0; e < w.projection; e++) {
          let pe = 0;
          for (let d = 0; d < w.hidden; d++) pe += ln[d] * w.visualProjection[d * w.projection + e];
          score += pe * t[e];
        }
        return score / norm;
      };
      const refCls = new Float64Array(T - 1);
      const refTok = new Float64Array(T - 1);
      for (let m = 1; m < T; m++) {
        const withBias = Float64Array.from(c[m], (v, d) => v + w.outProjBias[d] / T); // hook.py:27
        refCls[m - 1] = project(withBias, K * T);
        refTok[m - 1] = project(block.blockOutput.subarray(m * w.hidden, (m + 1) * w.hidden), K);
      }
      const closed = rawScores(block, w, t);
      assert.ok(maxAbsDiff(minmax(refCls), minmax(closed.psiCls)) < 1e-5, `cls diff ${maxAbsDiff(minmax(refCls), minmax(closed.psiCls))}`);
      assert.ok(maxAbsDiff(invertedMinmax(refTok), invertedMinmax(closed.psiTok)) < 1e-5);
      // And the engine's reported maps are exactly these.
      assert.ok(maxAbsDiff(result.clsMap, minmax(refCls)) < 1e-5);
      assert.ok(maxAbsDiff(result.patchMap, invertedMinmax(refTok)) < 1e-5);
      // The maps are not trivially constant.
      assert.ok(Math.max(...result.clsMap) === 1 && Math.min(...result.clsMap) === 0);
    });
  });
}
