/**
 * Reduced-precision exports (q8, int8, uint8, q4, q4f16, bnb4, fp16) made by the fixture
 * generator the way the hub's were: graph surgery on every file, the dequantized weights against
 * the fp32 weights they came from, onnxruntime's own product against our dequantized weight,
 * planted pointing, and clear errors for quantizations the engine cannot read.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AttentionPromptEngine } from '../src/core/engine';
import { decodeImage } from '../src/core/image';
import { DTYPES, Dtype } from '../src/core/defaults';
import { towerFile } from '../src/core/modelFiles';
import { indexOnnx } from '../src/core/onnx/onnxFile';
import { FileSource } from '../src/core/onnx/protobuf';
import { signedWeightsFaster } from '../src/core/onnx/prunedGraph';
import { prepareVisionGraph } from '../src/core/onnx/visionGraph';
import { fixtureModel, inside, rectangleImage, tempDir } from './helpers';
import { point, randomCases } from './pointing';

const MODELS = ['tiny-clip', 'tiny-clip-opset17', 'planted-clip', 'planted-clip-opset17'];
const REDUCED = DTYPES.filter((d) => d !== 'fp32');

const has = (model: string, tower: 'vision' | 'text', dtype: Dtype) => fs.existsSync(path.join(fixtureModel(model), towerFile(tower, dtype)));

/** The text dtype to pair with a vision dtype: the same when the fixture has it, else q8, else fp32. */
const textFor = (model: string, dtype: Dtype): Dtype => (has(model, 'text', dtype) ? dtype : has(model, 'text', 'q8') ? 'q8' : 'fp32');

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * The largest error each scheme may make on a [K, N] weight W (row-major), per element:
 * 8-bit per tensor: half a step (int8: max|W|/127; uint8: (max(W,0) − min(W,0))/255);
 * q4: one step of the block (|largest value| / 8: the largest value maps to code 0, the opposite
 * extreme clips at 15); NF4: absmax of the block × the largest half-gap between NF4 levels
 * (0.1519, between −1 and −0.696); fp16: half precision.
 */
function errorBound(dtype: Dtype, w: Float32Array, k: number, n: number): (row: number, col: number) => number {
  const slack = 1 + 1e-4;
  if (dtype === 'fp16') return (r, c) => Math.abs(w[r * n + c]) * 1e-3 + 1e-7;
  if (dtype === 'int8' || dtype === 'uint8' || dtype === 'q8') {
    let lo = 0, hi = 0;
    for (const v of w) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    // q8's vision file has uint8 weights (the graph has a Conv).
    const step = dtype === 'int8' ? maxAbs(w) / 127 : (hi - lo) / 255;
    return () => (step / 2) * slack + 1e-7;
  }
  if (dtype === 'q4' || dtype === 'q4f16') {
    const block = 32;
    return (r, c) => {
      const b0 = Math.floor(r / block) * block;
      let m = 0;
      for (let i = b0; i < Math.min(b0 + block, k); i++) m = Math.max(m, Math.abs(w[i * n + c]));
      return (m / 8) * (dtype === 'q4f16' ? 1.002 : slack) + 1e-6;
    };
  }
  // bnb4: blocks of 64 over Wᵀ flattened ([N, K] row-major).
  const block = 64;
  return (r, c) => {
    const flat = c * k + r;
    const b0 = Math.floor(flat / block) * block;
    let m = 0;
    for (let i = b0; i < Math.min(b0 + block, k * n); i++) m = Math.max(m, Math.abs(w[(i % k) * n + Math.floor(i / k)]));
    return m * 0.1519 * slack + 1e-7;
  };
}

describe('reduced-precision exports: graph surgery and dequantized weights', () => {
  for (const model of MODELS) {
    const fp32 = prepareVisionGraph({ sourcePath: path.join(fixtureModel(model), towerFile('vision', 'fp32')), cacheDir: tempDir(), modelName: model });
    for (const dtype of REDUCED) {
      if (!has(model, 'vision', dtype)) continue;
      it(`${model} ${dtype}: block L located, W_O and P dequantized within the quantization step of the fp32 weights`, async () => {
        const ref = await fp32;
        const g = await prepareVisionGraph({ sourcePath: path.join(fixtureModel(model), towerFile('vision', dtype)), cacheDir: tempDir(), modelName: model });
        assert.equal(g.layer, ref.layer);
        assert.equal(g.numLayers, ref.numLayers);
        const { hidden, projection } = ref.weights;
        for (const [name, k, n] of [['outProj', hidden, hidden], ['visualProjection', hidden, projection]] as const) {
          const a = ref.weights[name];
          const b = g.weights[name];
          assert.equal(b.length, a.length, name);
          const bound = errorBound(dtype, a, k, n);
          let worst = 0;
          for (let r = 0; r < k; r++) {
            for (let c = 0; c < n; c++) {
              const d = Math.abs(a[r * n + c] - b[r * n + c]);
              assert.ok(d <= bound(r, c), `${name}[${r},${c}]: |${a[r * n + c]} − ${b[r * n + c]}| = ${d} > ${bound(r, c)}`);
              worst = Math.max(worst, d);
            }
          }
          // Random weights are not exactly representable: a file that silently held fp32 would fail this.
          if (model.startsWith('tiny')) assert.ok(worst > 0, `${name} of ${dtype} differs from fp32 somewhere`);
        }
        // γ stays float: exact, or rounded to half precision in the float16 files.
        const halfPrecision = dtype === 'fp16' || dtype === 'q4f16';
        ref.weights.postLayerNormWeight.forEach((v, i) => {
          const d = Math.abs(v - g.weights.postLayerNormWeight[i]);
          assert.ok(halfPrecision ? d <= Math.abs(v) * 1e-3 : d === 0, `post_layernorm γ[${i}]`);
        });
      });
    }
  }
});

/** Block L's attention output recomputed from the exposed tensors and our dequantized W_O, b_O. */
function outProjFromBlock(block: NonNullable<Awaited<ReturnType<AttentionPromptEngine['attribute']>>['block']>, wo: Float32Array, bo: Float32Array, heads: number): Float64Array {
  const [, tokens, hidden] = block.valuesDims;
  const hd = hidden / heads;
  const concat = new Float64Array(tokens * hidden);
  for (let h = 0; h < heads; h++) {
    for (let t = 0; t < tokens; t++) {
      const row = (h * tokens + t) * tokens; // [B·H,T,T] and [B,H,T,T] have the same flat order at batch 0
      for (let m = 0; m < tokens; m++) {
        const p = block.attention[row + m];
        for (let d = 0; d < hd; d++) concat[t * hidden + h * hd + d] += p * block.values[m * hidden + h * hd + d];
      }
    }
  }
  const out = new Float64Array(tokens * hidden);
  for (let t = 0; t < tokens; t++) {
    for (let j = 0; j < hidden; j++) {
      let s = bo[j];
      for (let i = 0; i < hidden; i++) s += concat[t * hidden + i] * wo[i * hidden + j];
      out[t * hidden + j] = s;
    }
  }
  return out;
}

describe('reduced-precision exports: onnxruntime computes with the weights we read', () => {
  for (const dtype of REDUCED) {
    it(`tiny-clip ${dtype}: out_proj's output equals (attention · values) · W_O + b_O with our dequantized W_O`, async () => {
      const engine = await AttentionPromptEngine.load({ model: fixtureModel('tiny-clip'), cacheDir: tempDir(), dtype, threads: 1, exposeAttentionOutput: true });
      try {
        const png = await rectangleImage(96, 80, 'red', { left: 10, top: 10, width: 40, height: 30 });
        const a = await engine.attribute(await decodeImage(png), { question: 'a red square' });
        const block = a.block!;
        for (const t of [block.attention, block.values, block.blockOutput, block.attentionOutput!]) assert.ok(t instanceof Float32Array && t.every(Number.isFinite));
        const heads = block.attentionDims.length === 4 ? block.attentionDims[1] : block.attentionDims[0];
        const ours = outProjFromBlock(block, engine.graph.weights.outProj, engine.graph.weights.outProjBias, heads);
        const theirs = block.attentionOutput!;
        const scale = maxAbs(theirs);
        let worst = 0;
        for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
        // Weight-only schemes compute in float: only rounding differs (fp16 compute for *f16).
        // 8-bit schemes also quantize the activation (DynamicQuantizeLinear, per tensor, uint8).
        const tolerance = dtype === 'q4' || dtype === 'bnb4' ? 1e-4 : dtype === 'q4f16' || dtype === 'fp16' ? 1e-2 : 3e-2;
        assert.ok(worst / scale < tolerance, `${dtype}: max |ours − onnxruntime| / max = ${worst / scale}`);
      } finally {
        await engine.dispose();
      }
    });
  }
});

describe('per-channel 8-bit weights (the 2023 hub files’ scheme)', () => {
  const perChannel = path.join(fixtureModel('tiny-clip'), 'onnx', 'vision_model_quantized_per_channel.onnx');

  it('dequantizes W_O and P within half a step of each column’s own scale', async () => {
    const ref = await prepareVisionGraph({ sourcePath: path.join(fixtureModel('tiny-clip'), towerFile('vision', 'fp32')), cacheDir: tempDir(), modelName: 'tiny-clip' });
    const g = await prepareVisionGraph({ sourcePath: perChannel, cacheDir: tempDir(), modelName: 'tiny-clip' });
    const { hidden, projection } = ref.weights;
    for (const [name, k, n] of [['outProj', hidden, hidden], ['visualProjection', hidden, projection]] as const) {
      const a = ref.weights[name];
      const b = g.weights[name];
      for (let c = 0; c < n; c++) {
        let lo = 0, hi = 0;
        for (let r = 0; r < k; r++) (lo = Math.min(lo, a[r * n + c])), (hi = Math.max(hi, a[r * n + c]));
        const half = (hi - lo) / 255 / 2; // uint8 weights: the vision tower has a convolution
        for (let r = 0; r < k; r++) assert.ok(Math.abs(a[r * n + c] - b[r * n + c]) <= half * (1 + 1e-4) + 1e-7, `${name}[${r},${c}]`);
      }
      // Per-tensor steps would be wider than some columns': the per-column reading is what passes above.
    }
  });

  it('onnxruntime computes out_proj with the per-column weights we read', async () => {
    const dir = path.join(tempDir(), 'tiny-clip');
    fs.cpSync(fixtureModel('tiny-clip'), dir, { recursive: true });
    fs.copyFileSync(perChannel, path.join(dir, towerFile('vision', 'q8')));
    const engine = await AttentionPromptEngine.load({ model: dir, cacheDir: tempDir(), dtype: 'q8', threads: 1, exposeAttentionOutput: true });
    try {
      const png = await rectangleImage(96, 80, 'green', { left: 30, top: 20, width: 40, height: 30 });
      const block = (await engine.attribute(await decodeImage(png), { question: 'a green square' })).block!;
      const heads = block.attentionDims.length === 4 ? block.attentionDims[1] : block.attentionDims[0];
      const ours = outProjFromBlock(block, engine.graph.weights.outProj, engine.graph.weights.outProjBias, heads);
      const scale = maxAbs(block.attentionOutput!);
      let worst = 0;
      for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - block.attentionOutput![i]));
      assert.ok(worst / scale < 3e-2, `max |ours − onnxruntime| / max = ${worst / scale}`);
    } finally {
      await engine.dispose();
    }
  });
});

describe('uint8 MatMulInteger weights stored as int8 (VNNI: u8 × s8 is the fast integer product)', () => {
  const files = { q8: path.join(fixtureModel('tiny-clip'), towerFile('vision', 'q8')), 'q8 per channel': path.join(fixtureModel('tiny-clip'), 'onnx', 'vision_model_quantized_per_channel.onnx') };
  const matMulIntegerTypes = (modelPath: string) => {
    const fd = fs.openSync(modelPath, 'r');
    try {
      const index = indexOnnx(new FileSource(fd));
      const types = new Set<string>();
      for (const n of index.nodes.filter((x) => x.opType === 'MatMulInteger')) types.add(`${index.initializers.get(n.inputs[1])!.dataType}/${index.initializers.get(n.inputs[3])!.dataType}`);
      return [...types];
    } finally {
      fs.closeSync(fd);
    }
  };
  for (const [label, sourcePath] of Object.entries(files)) {
    it(`tiny-clip ${label}: the prepared graph holds int8 weights and zero points, and onnxruntime's outputs are unchanged`, async () => {
      const unsigned = await prepareVisionGraph({ sourcePath, cacheDir: tempDir(), modelName: 'tiny-clip', signedWeights: false });
      const signed = await prepareVisionGraph({ sourcePath, cacheDir: tempDir(), modelName: 'tiny-clip', signedWeights: true });
      assert.deepEqual(matMulIntegerTypes(unsigned.modelPath), ['2/2'], 'the source keeps uint8 weights and zero points');
      assert.deepEqual(matMulIntegerTypes(signed.modelPath), ['3/3'], 'every MatMulInteger weight and zero point is int8');
      assert.deepEqual(signed.weights, unsigned.weights, 'the closed form reads the same W_O and P');
      // The integer products are the same numbers (q − z unchanged); on CPUs without VNNI the
      // u8 × s8 kernel may saturate, which is why the engine converts only where VNNI is present.
      if (!signedWeightsFaster()) return;
      const ort = await import('onnxruntime-node');
      const run = async (modelPath: string) => {
        const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
        const input = new ort.Tensor('float32', Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.37)), [1, 3, 64, 64]);
        const out = await session.run({ [session.inputNames[0]]: input });
        await session.release();
        return out;
      };
      const [a, b] = [await run(unsigned.modelPath), await run(signed.modelPath)];
      for (const name of Object.values(unsigned.outputs)) {
        const x = a[name].data as Float32Array;
        const y = b[name].data as Float32Array;
        const scale = maxAbs(x);
        for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= scale * 1e-5, `${name}[${i}]: ${x[i]} vs ${y[i]}`);
      }
    });
  }

  it('int8 weights are left as they are (nothing written beside the graph)', async () => {
    const g = await prepareVisionGraph({ sourcePath: path.join(fixtureModel('tiny-clip'), towerFile('vision', 'int8')), cacheDir: tempDir(), modelName: 'tiny-clip', signedWeights: true });
    assert.deepEqual(matMulIntegerTypes(g.modelPath), ['3/3']);
    assert.equal(fs.existsSync(path.join(path.dirname(g.modelPath), 'signed_weights.bin')), false);
  });
});

describe('reduced-precision exports: planted pointing', () => {
  for (const dtype of REDUCED) {
    it(`planted-clip ${dtype} (text ${textFor('planted-clip', dtype)}): the heatmap peaks in the named colour’s region in ≥ 95% of cases`, async () => {
      const engine = await AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir: tempDir(), visionDtype: dtype, textDtype: textFor('planted-clip', dtype), threads: 1 });
      try {
        const cases = randomCases(31, 24);
        let hits = 0;
        const misses: string[] = [];
        for (const c of cases) {
          const png = await rectangleImage(c.width, c.height, c.colour, c.region);
          const p = await point(engine, png, c.question, c.region);
          if (inside(c.region, p.x, p.y) && p.meanIn > p.meanOut + 0.3) hits++;
          else misses.push(`${c.colour} ${JSON.stringify(c.region)} peak (${p.x},${p.y}) in ${p.meanIn.toFixed(2)} out ${p.meanOut.toFixed(2)}`);
        }
        assert.ok(hits / cases.length >= 0.95, `${hits}/${cases.length}\n${misses.join('\n')}`);
      } finally {
        await engine.dispose();
      }
    });
  }
});

describe('reduced-precision exports: clear errors', () => {
  /** A copy of tiny-clip whose `file` has `from` replaced by `to` (same length, so the protobuf stays valid). */
  function patched(file: string, from: Buffer, to: Buffer): string {
    const dir = path.join(tempDir(), 'tiny-clip');
    fs.cpSync(fixtureModel('tiny-clip'), dir, { recursive: true });
    const p = path.join(dir, file);
    const bytes = fs.readFileSync(p);
    let at = bytes.indexOf(from);
    assert.ok(at >= 0, `pattern found in ${file}`);
    while (at >= 0) {
      to.copy(bytes, at);
      at = bytes.indexOf(from, at + 1);
    }
    fs.writeFileSync(p, bytes);
    return dir;
  }
  const attr = (name: string, value: number) => Buffer.concat([Buffer.from([0x0a, name.length]), Buffer.from(name), Buffer.from([0x18, value])]);

  it('a 3-bit MatMulNBits names the file, the node and the operator', async () => {
    const dir = patched(towerFile('vision', 'q4'), attr('bits', 4), attr('bits', 3));
    await assert.rejects(AttentionPromptEngine.load({ model: dir, cacheDir: tempDir(), dtype: 'q4', threads: 1 }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'model-structure');
      assert.match(e.message, /vision_model_q4\.onnx: cannot read the attention output projection of layer 1 from its MatMulNBits node "\/vision_model\/encoder\/layers\.1\/self_attn\/out_proj\/MatMul_Q4": 3-bit codes are not supported/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  });

  it('FP4 bnb4 weights are refused by name', async () => {
    const dir = patched(towerFile('vision', 'bnb4'), attr('quant_type', 1), attr('quant_type', 0));
    await assert.rejects(AttentionPromptEngine.load({ model: dir, cacheDir: tempDir(), dtype: 'bnb4', threads: 1 }), /vision_model_bnb4\.onnx: cannot read the .* from its MatMulBnb4 node .*FP4/);
  });

  it('an operator outside the supported set (QLinearMatMul) is named', async () => {
    const dir = patched(towerFile('vision', 'q8'), Buffer.from('MatMulInteger'), Buffer.from('QLinearMatMul'));
    await assert.rejects(AttentionPromptEngine.load({ model: dir, cacheDir: tempDir(), dtype: 'q8', threads: 1 }), /vision_model_quantized\.onnx: cannot read the attention output projection of layer 1 from its QLinearMatMul node .*not supported/);
  });

  it('an unknown dtype and a missing dtype file say what to do', async () => {
    await assert.rejects(AttentionPromptEngine.load({ model: fixtureModel('tiny-clip'), cacheDir: tempDir(), dtype: 'q3' as Dtype }), /Unknown dtype "q3": use one of fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4/);
    await assert.rejects(AttentionPromptEngine.load({ model: fixtureModel('planted-clip'), cacheDir: tempDir(), dtype: 'q4' }), /has no onnx\/text_model_q4\.onnx/);
  });
});
