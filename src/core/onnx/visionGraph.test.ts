import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fixtureModel, tempDir } from '../../../test/helpers';
import { indexOnnx } from './onnxFile';
import { FileSource } from './protobuf';
import type { LinkOps } from '../hardLink';
import { prepareLinkedGraph, prepareVisionGraph } from './visionGraph';

const vision = (model: string) => path.join(fixtureModel(model), 'onnx', 'vision_model.onnx');
const indexOf = (file: string) => {
  const fd = fs.openSync(file, 'r');
  try {
    return indexOnnx(new FileSource(fd));
  } finally {
    fs.closeSync(fd);
  }
};

describe('prepared vision graph', () => {
  it('exposes block L’s tensors, drops everything after block L, and reads the weights', async () => {
    const cacheDir = tempDir();
    const g = await prepareVisionGraph({ sourcePath: vision('planted-clip'), cacheDir, modelName: 'planted' });
    assert.equal(g.layer, 2);
    assert.equal(g.numLayers, 4);
    const idx = indexOf(g.modelPath);
    assert.deepEqual(idx.outputs.map((o) => o.name), [g.outputs.attention, g.outputs.values, g.outputs.blockOutput]);
    assert.match(g.outputs.attention, /layers\.2\/self_attn\/Softmax/);
    assert.match(g.outputs.blockOutput, /layers\.2\/Add_1/);
    assert.ok(!idx.nodes.some((n) => /layers\.3\/|post_layernorm|visual_projection/.test(n.name)), 'nothing after block L runs');
    assert.ok(idx.nodes.some((n) => /layers\.0\//.test(n.name)));
    assert.ok(fs.statSync(g.modelPath).size < fs.statSync(vision('planted-clip')).size);
    // Weights: the planted projection reads S_0 (dim 16) with +1 into column 0; γ is all ones.
    assert.equal(g.weights.visualProjection[16 * g.weights.projection + 0], 1);
    assert.ok(g.weights.postLayerNormWeight.every((v) => v === 1));
    assert.equal(g.weights.outProj.length, 64 * 64);
  });

  it('is cached on disk by source identity and layer', async () => {
    const cacheDir = tempDir();
    const first = await prepareVisionGraph({ sourcePath: vision('tiny-clip'), cacheDir, modelName: 'tiny' });
    const mtime = fs.statSync(first.modelPath).mtimeMs;
    const second = await prepareVisionGraph({ sourcePath: vision('tiny-clip'), cacheDir, modelName: 'tiny' });
    assert.equal(first.fromCache, false);
    assert.equal(second.fromCache, true);
    assert.equal(second.modelPath, first.modelPath);
    assert.equal(fs.statSync(second.modelPath).mtimeMs, mtime);
    assert.deepEqual(Array.from(second.weights.outProj), Array.from(first.weights.outProj));
    const other = await prepareVisionGraph({ sourcePath: vision('tiny-clip'), cacheDir, modelName: 'tiny', layer: 0 });
    assert.notEqual(other.modelPath, first.modelPath);
    assert.equal(other.layer, 0);
  });

  it('linked weights (external data) and copied weights give the same block tensors', async () => {
    const ort = await import('onnxruntime-node');
    const linked = await prepareVisionGraph({ sourcePath: vision('tiny-clip'), cacheDir: tempDir(), modelName: 'tiny' });
    const copied = await prepareVisionGraph({ sourcePath: vision('tiny-clip'), cacheDir: tempDir(), modelName: 'tiny', linkWeights: false });
    const linkedSize = fs.statSync(linked.modelPath).size;
    const copiedSize = fs.statSync(copied.modelPath).size;
    assert.ok(fs.existsSync(path.join(path.dirname(linked.modelPath), 'source_weights.onnx')), 'weights linked, not copied');
    assert.ok(linkedSize < copiedSize / 2, `the linked graph holds no weights (${linkedSize} vs ${copiedSize} bytes)`);
    const x = new ort.Tensor('float32', Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => Math.cos(i)), [1, 3, 64, 64]);
    const a = await (await ort.InferenceSession.create(linked.modelPath)).run({ pixel_values: x });
    const b = await (await ort.InferenceSession.create(copied.modelPath)).run({ pixel_values: x });
    for (const name of Object.values(linked.outputs)) assert.deepEqual(Array.from(a[name].data as Float32Array), Array.from(b[name].data as Float32Array), name);
  });

  it('refuses a layer out of range, naming the valid range', async () => {
    await assert.rejects(prepareVisionGraph({ sourcePath: vision('tiny-clip'), cacheDir: tempDir(), modelName: 'tiny', layer: 3 }), {
      code: 'bad-parameter',
      message: /has 3 layers \(0–2; the default is 1\)/,
    });
  });

  it('refuses an export without the CLIP vision structure, naming the model and what is missing', async () => {
    const text = path.join(fixtureModel('tiny-clip'), 'onnx', 'text_model.onnx');
    await assert.rejects(prepareVisionGraph({ sourcePath: text, cacheDir: tempDir(), modelName: 'my/text-only' }), {
      code: 'model-structure',
      message: /my\/text-only.*no \/vision_model\/encoder\/layers/,
    });
    const junk = path.join(tempDir(), 'vision_model.onnx');
    fs.writeFileSync(junk, Buffer.from('definitely not protobuf \xff\xff\xff\xff'));
    await assert.rejects(prepareVisionGraph({ sourcePath: junk, cacheDir: tempDir(), modelName: 'junk' }), { code: 'model-structure', message: /not a readable ONNX model/ });
  });
});

describe('the hard link a prepared graph reads its weights through', () => {
  it('is replaced without a moment where its name is missing (another process may be opening it)', async () => {
    const cacheDir = tempDir();
    const source = path.join(fixtureModel('tiny-clip'), 'onnx', 'text_model.onnx');
    const first = await prepareLinkedGraph(source, cacheDir);
    assert.ok(first, 'the temporary folder and the fixtures share a file system');
    const link = path.join(path.dirname(first), 'source_weights.onnx');
    // Prepared again (as a second process does when it finds no meta.json yet): watch the link's
    // name at every file-system step of the preparation.
    fs.rmSync(path.join(path.dirname(first), 'meta.json'));
    const seen: boolean[] = [];
    const watched = ['link', 'rename', 'rm', 'writeFile', 'open'] as const;
    const originals = watched.map((k) => [k, fs.promises[k]] as const);
    for (const [k, f] of originals) {
      (fs.promises as Record<string, unknown>)[k] = (...args: unknown[]) => {
        seen.push(fs.existsSync(link));
        return (f as (...a: unknown[]) => unknown)(...args);
      };
    }
    try {
      assert.equal(await prepareLinkedGraph(source, cacheDir), first);
    } finally {
      for (const [k, f] of originals) (fs.promises as Record<string, unknown>)[k] = f;
    }
    assert.ok(seen.length > 0);
    assert.ok(seen.every(Boolean), `the link was missing at step ${seen.indexOf(false) + 1} of ${seen.length}`);
    assert.ok(fs.existsSync(link) && fs.statSync(link).ino === fs.statSync(source).ino, 'still a hard link of the source');
    assert.deepEqual(fs.readdirSync(path.dirname(first)).filter((f) => f.endsWith('.tmp')), [], 'no temporary name left');
  });

  /** A file system that refuses links as another volume (EXDEV), FAT/exFAT or a share (EPERM, ENOTSUP) does. */
  function refusing(code: string, step: 'link' | 'rename' = 'link') {
    const warnings: string[] = [];
    const refuse = async () => {
      throw Object.assign(new Error(`${code}: refused`), { code });
    };
    const ops: LinkOps = {
      link: step === 'link' ? refuse : (a, b) => fs.promises.link(a, b),
      rename: step === 'rename' ? refuse : (a, b) => fs.promises.rename(a, b),
      warn: (line) => warnings.push(line),
    };
    return { ops, warnings };
  }

  for (const code of ['EXDEV', 'EPERM', 'ENOTSUP']) {
    it(`where no hard link can be made (${code}), the vision graph copies its weights, with a log line, and never fails`, async () => {
      const { ops, warnings } = refusing(code);
      const g = await prepareVisionGraph({ sourcePath: vision('tiny-clip'), cacheDir: tempDir(), modelName: 'tiny', linkOps: ops });
      const copied = await prepareVisionGraph({ sourcePath: vision('tiny-clip'), cacheDir: tempDir(), modelName: 'tiny', linkWeights: false });
      assert.deepEqual(fs.readFileSync(g.modelPath), fs.readFileSync(copied.modelPath), 'the same file as the copying layout');
      assert.ok(!fs.existsSync(path.join(path.dirname(g.modelPath), 'source_weights.onnx')));
      assert.deepEqual(fs.readdirSync(path.dirname(g.modelPath)).filter((f) => f.endsWith('.tmp')), []);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], new RegExp(`${code}.*copy of the weights`));
      assert.ok(warnings[0].includes(vision('tiny-clip')), 'names the model file');
    });
  }

  it('where no hard link can be made, the text tower opens its model file as it is, with a log line', async () => {
    for (const [code, step] of [['EXDEV', 'link'], ['EPERM', 'rename']] as const) {
      const { ops, warnings } = refusing(code, step);
      const cacheDir = tempDir();
      const source = path.join(fixtureModel('tiny-clip'), 'onnx', 'text_model.onnx');
      assert.equal(await prepareLinkedGraph(source, cacheDir, ops), undefined);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], new RegExp(`${code}.*opened as it is`));
      const dirs = fs.readdirSync(path.join(cacheDir, 'prepared-graphs'));
      for (const d of dirs) assert.deepEqual(fs.readdirSync(path.join(cacheDir, 'prepared-graphs', d)).filter((f) => f.endsWith('.tmp')), [], `${step} refused: no temporary name left`);
    }
  });
});
