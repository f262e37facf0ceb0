/**
 * One engine serves every layer (issue 8, item 4): a request names its layer, the engine swaps its
 * single vision session, releasing the previous one first, and keeps the text tower.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { AttentionPromptEngine } from '../src/core/engine';
import { decodeImage } from '../src/core/image';
import { fixtureModel, rectangleImage, tempDir } from './helpers';

describe('layer changes', () => {
  let live = 0;
  const Session = ort.InferenceSession as unknown as { create: (...a: unknown[]) => Promise<ort.InferenceSession>; prototype: { release(): Promise<void> } };
  const create = Session.create;
  const release = Session.prototype.release;
  before(() => {
    // Count the sessions alive in this process (the text tower's too: Transformers.js uses the same onnxruntime-node).
    Session.create = async (...args: unknown[]) => {
      const s = await create.apply(Session, args);
      live++;
      return s;
    };
    Session.prototype.release = async function (this: ort.InferenceSession) {
      live--;
      return release.call(this);
    };
  });
  after(() => {
    Session.create = create;
    Session.prototype.release = release;
  });

  it('each request gets its layer from one engine, as a fresh engine of that layer computes it, with one vision session alive', async () => {
    const cacheDir = tempDir();
    const img = await decodeImage(await rectangleImage(200, 150, 'red', { left: 20, top: 30, width: 60, height: 50 }));
    const engine = await AttentionPromptEngine.load({ model: fixtureModel('tiny-clip'), cacheDir, threads: 1 });
    try {
      assert.equal(engine.layer, 1, 'default: layers − 2');
      const first = await engine.attribute(img, { question: 'a red square' });
      const baseline = live; // vision + text sessions
      assert.ok(baseline >= 2, `sessions counted: ${baseline}`);
      for (const layer of [0, 2, -1, 0, undefined]) {
        const a = await engine.attribute(img, { question: 'a red square', layer });
        const expected = layer === undefined ? 1 : layer < 0 ? 3 + layer : layer;
        assert.equal(a.layer, expected);
        const fresh = await AttentionPromptEngine.load({ model: fixtureModel('tiny-clip'), cacheDir, threads: 1, layer: expected });
        const b = await fresh.attribute(img, { question: 'a red square' });
        await fresh.dispose();
        assert.deepEqual(Array.from(a.mask), Array.from(b.mask), `layer ${expected}`);
        assert.deepEqual(Array.from(a.psiCls), Array.from(b.psiCls), `layer ${expected}`);
        assert.equal(live, baseline, 'the previous layer’s session was released');
      }
      assert.deepEqual(Array.from((await engine.attribute(img, { question: 'a red square' })).mask), Array.from(first.mask));
      await assert.rejects(engine.attribute(img, { question: 'x', layer: 3 }), { code: 'bad-parameter', message: /Layer 3 is out of range.*3 layers/ });
    } finally {
      await engine.dispose();
    }
  });

  it('concurrent requests for different layers each get their own layer', async () => {
    const engine = await AttentionPromptEngine.load({ model: fixtureModel('tiny-clip'), cacheDir: tempDir(), threads: 1 });
    try {
      const img = await decodeImage(await rectangleImage(120, 90, 'blue', { left: 10, top: 10, width: 40, height: 30 }));
      const results = await Promise.all([0, 1, 2, 0, 2].map((layer) => engine.attribute(img, { question: 'blue', layer })));
      assert.deepEqual(results.map((r) => r.layer), [0, 1, 2, 0, 2]);
      assert.deepEqual(Array.from(results[0].mask), Array.from(results[3].mask));
      assert.deepEqual(Array.from(results[2].mask), Array.from(results[4].mask));
    } finally {
      await engine.dispose();
    }
  });
});
