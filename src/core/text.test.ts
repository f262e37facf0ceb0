import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixtureModel, tempDir } from '../../test/helpers';
import { DTYPES } from './defaults';
import { modelFilePath } from './modelCache';
import { towerFile } from './modelFiles';
import { locateModel } from './modelLocation';
import * as fs from 'node:fs';
import { ClipTextEncoder, TextTower, truncateForClip, validateQuery } from './text';
import { loadTransformers } from './transformers';

describe('CLIP text side', () => {
  let enc: ClipTextEncoder;
  before(async () => {
    enc = await ClipTextEncoder.load(await loadTransformers(), locateModel({ model: fixtureModel('planted-clip'), cacheDir: tempDir() }));
  });
  after(() => enc.dispose());

  it('tokenizes exactly like OpenAI CLIP (golden ids)', () => {
    assert.deepEqual(enc.tokenize('a photo of a cat'), [49406, 320, 1125, 539, 320, 2368, 49407]);
    assert.deepEqual(enc.tokenize('what color is the bird?'), [49406, 768, 3140, 533, 518, 3329, 286, 49407]);
    // Lower-cased and whitespace-collapsed, as CLIP's basic cleaning does.
    assert.deepEqual(enc.tokenize('  A   Photo of a CAT '), [49406, 320, 1125, 539, 320, 2368, 49407]);
  });

  it('truncates to 77 tokens keeping the end token, and reports it', async () => {
    const long = Array.from({ length: 100 }, (_, i) => (i % 2 ? 'red' : 'box')).join(' ');
    const e = await enc.embed(long);
    assert.equal(e.tokens, 102);
    assert.equal(e.truncated, true);
    const short = await enc.embed('a red box');
    assert.equal(short.truncated, false);
    assert.equal(short.tokens, 5);
    const ids = Array.from({ length: 80 }, (_, i) => i);
    const t = truncateForClip(ids);
    assert.equal(t.ids.length, 77);
    assert.equal(t.ids[76], 79);
    assert.equal(t.ids[75], 75);
  });

  it('returns an L2-normalised embedding and caches per query', async () => {
    const a = await enc.embed('where is the red box?');
    const norm = Math.sqrt(a.embedding.reduce((s, v) => s + v * v, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5);
    assert.equal(await enc.embed('where is the red box?'), a, 'second call is the cached object');
    const b = await enc.embed('where is the blue box?');
    assert.notDeepEqual(Array.from(a.embedding), Array.from(b.embedding));
  });

  it('rejects empty and over-long queries with clear errors', () => {
    assert.throws(() => validateQuery(''), { code: 'bad-query', message: /empty/ });
    assert.throws(() => validateQuery('   \n '), { code: 'bad-query', message: /empty/ });
    assert.throws(() => validateQuery('x'.repeat(5000)), { code: 'bad-query', message: /5000 characters/ });
    assert.equal(validateQuery('  what is this? '), 'what is this?');
  });
});

describe('the text model in its own session, weights linked from the file', () => {
  // tiny-clip has a text file for every dtype (the 4-bit ones run MatMulNBits / MatMulBnb4).
  for (const dtype of DTYPES) {
    it(`${dtype}: the same embeddings as Transformers.js's CLIPTextModelWithProjection, from a graph that holds no weights`, async () => {
      const t = await loadTransformers();
      const loc = locateModel({ model: fixtureModel('tiny-clip'), cacheDir: tempDir(), dtype });
      const ours = await ClipTextEncoder.load(t, loc);
      const theirs = await t.CLIPTextModelWithProjection.from_pretrained(loc.pretrainedId, { local_files_only: true, dtype, device: 'cpu' });
      try {
        const source = modelFilePath(loc, towerFile('text', dtype));
        assert.notEqual(ours.modelPath, source, 'the prepared graph, not the original file');
        assert.ok(ours.modelPath.startsWith(loc.cacheDir));
        assert.ok(fs.statSync(ours.modelPath).size < fs.statSync(source).size / 4, 'the weights stay in the original file');
        for (const q of ['where is the red box?', 'green', 'a photo of a cat', Array.from({ length: 90 }, () => 'blue').join(' ')]) {
          const mine = await ours.embed(q);
          const ids = ours.tokenize(q).slice(0, 76);
          if (ids.length === 76) ids.push(49407);
          const out = (await theirs({ input_ids: new t.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) })) as { text_embeds: { data: Float32Array } };
          const reference = Array.from(out.text_embeds.data);
          const norm = Math.hypot(...reference) || 1; // a zero embedding stays zero (l2normalize)
          mine.embedding.forEach((v, i) => assert.ok(Math.abs(v - reference[i] / norm) < 1e-5, `${q.slice(0, 20)} [${i}]: ${v} vs ${reference[i] / norm}`));
        }
      } finally {
        await ours.dispose();
        await theirs.dispose();
      }
    });
  }
});

describe('text tower with the on-disk embedding cache', () => {
  it('a known question is answered from disk without loading the text model', async () => {
    const t = await loadTransformers();
    const loc = locateModel({ model: fixtureModel('planted-clip') });
    const cacheDir = tempDir();
    const textModel = modelFilePath(loc, 'onnx/text_model.onnx');
    const first = new TextTower(t, loc, textModel, cacheDir);
    const a = await first.embed('where is the red box?');
    assert.equal(first.loaded, true);
    await first.dispose();
    const second = new TextTower(t, loc, textModel, cacheDir);
    const b = await second.embed('where is the red box?');
    assert.equal(second.loaded, false, 'served from disk');
    assert.deepEqual(Array.from(b.embedding), Array.from(a.embedding));
    assert.equal(b.tokens, a.tokens);
    const c = await second.embed('where is the blue box?');
    assert.equal(second.loaded, true, 'a new question loads the model');
    assert.notDeepEqual(Array.from(c.embedding), Array.from(a.embedding));
    await second.dispose();
  });

  it('releases the text model after its idle time; a new question loads it again, with the same embeddings', async () => {
    const t = await loadTransformers();
    const loc = locateModel({ model: fixtureModel('planted-clip') });
    const textModel = modelFilePath(loc, 'onnx/text_model.onnx');
    const kept = new TextTower(t, loc, textModel, tempDir(), { idleReleaseMs: Infinity });
    const released = new TextTower(t, loc, textModel, tempDir(), { idleReleaseMs: 0 });
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(ok(), what);
    };
    try {
      const a = await kept.embed('where is the red box?');
      const b = await released.embed('where is the red box?');
      await until('released once idle', () => !released.loaded);
      const c = await released.embed('where is the blue box?');
      assert.ok(released.loadMs! > 0, 'the new question loaded the model again');
      const d = await kept.embed('where is the blue box?');
      assert.deepEqual(Array.from(b.embedding), Array.from(a.embedding));
      assert.deepEqual(Array.from(c.embedding), Array.from(d.embedding));
      await until('released again', () => !released.loaded);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(kept.loaded, true, 'Infinity keeps it');
      // Two embeds at once: the idle clock waits for both.
      const [e, f] = await Promise.all([released.embed('is it green?'), released.embed('is it blue?')]);
      assert.equal(e.text, 'is it green?');
      assert.equal(f.text, 'is it blue?');
    } finally {
      await kept.dispose();
      await released.dispose();
    }
  });
});
