import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { ROOT, fixtureModel, rectangleImage, tempDir } from '../../test/helpers';
import type { AttributeParams, EngineResult, RenderedImages, AttributionSummary, ViewParameters } from '../shared/protocol';
import { EngineClient } from './engineClient';

const view: ViewParameters = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', layer: null, opacity: 0.5, hint: '' };

describe('engine process client', () => {
  const dir = tempDir('ap-engine-');
  const logs: string[] = [];
  const client = new EngineClient({ scriptPath: path.join(ROOT, 'dist', 'engine.js'), idleMs: 0, log: (l, m) => logs.push(`${l} ${m}`) });
  after(() => client.dispose());
  const image = path.join(dir, 'scene.png');
  const params = (): AttributeParams => ({
    imagePath: image,
    question: 'where is the red box?',
    model: { model: fixtureModel('planted-clip'), dtype: 'fp32', cacheDir: path.join(dir, 'cache'), geometry: 'full', threads: 1 },
    view,
    previewMaxSide: 300,
  });

  it('starts lazily, computes a heatmap in the child, and re-renders from cached maps', async () => {
    fs.writeFileSync(image, await rectangleImage(600, 400, 'red', { left: 400, top: 50, width: 150, height: 120 }));
    assert.equal(client.running, false);
    const progress: string[] = [];
    const r = (await client.request('attribute', params(), { onProgress: (p) => progress.push(p.stage) })) as { summary: AttributionSummary; images: RenderedImages };
    assert.equal(client.running, true);
    assert.notEqual(client.pid, process.pid);
    assert.deepEqual(progress.filter((s) => s !== 'download').slice(-2), ['heatmap', 'render']);
    assert.deepEqual(r.summary.grid, [14, 14]);
    assert.deepEqual([r.summary.imageWidth, r.summary.imageHeight], [600, 400]);
    assert.deepEqual([r.images.width, r.images.height], [300, 200], 'preview is downscaled');
    for (const k of ['original', 'overlay', 'masked'] as const) assert.equal((await sharp(Buffer.from(r.images[k])).metadata()).width, 300);
    // Another gray level changes the masked image without recomputing CLIP.
    const again = (await client.request('rerender', { attributionId: r.summary.attributionId, view: { ...view, gray: 255 }, previewMaxSide: 300 })) as { images: RenderedImages };
    assert.notDeepEqual(Buffer.from(again.images.masked), Buffer.from(r.images.masked));
    assert.deepEqual(Buffer.from(again.images.original), Buffer.from(r.images.original));
    // Export at full resolution.
    const full = (await client.request('export', { attributionId: r.summary.attributionId, view, which: 'masked', format: 'png' })) as Extract<EngineResult, { data: Uint8Array }>;
    const meta = await sharp(Buffer.from(full.data)).metadata();
    assert.deepEqual([meta.width, meta.height], [600, 400]);
    assert.equal(full.sourceFormat, 'png');
  });

  it('reports engine errors with their codes', async () => {
    await assert.rejects(client.request('attribute', { ...params(), question: '' }), { code: 'bad-query' });
    await assert.rejects(client.request('attribute', { ...params(), imagePath: path.join(dir, 'nope.png') }), { code: 'bad-image' });
    await assert.rejects(client.request('rerender', { attributionId: 'gone', view, previewMaxSide: 100 }), { code: 'expired' });
  });

  it('survives the engine process dying mid-request, and restarts on the next one', async () => {
    const starts = client.starts;
    const pending = client.request('attribute', params());
    process.kill(client.pid!, 'SIGKILL');
    await assert.rejects(pending, { code: 'engine-crashed', message: /stopped unexpectedly \(signal SIGKILL\)/ });
    assert.equal(client.running, false);
    const r = (await client.request('attribute', params())) as { summary: AttributionSummary };
    assert.equal(client.starts, starts + 1);
    assert.deepEqual(r.summary.grid, [14, 14]);
  });

  it('cancels through an AbortSignal', async () => {
    const controller = new AbortController();
    const pending = client.request('attribute', { ...params(), view: { ...view, layer: 1 } }, { signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, { code: 'cancelled' });
    // The process is still usable.
    await client.request('attribute', params());
  });

  it('releases the process after the idle period', async () => {
    const idle = new EngineClient({ scriptPath: path.join(ROOT, 'dist', 'engine.js'), idleMs: 300, log: () => undefined });
    try {
      await idle.request('attribute', params());
      assert.equal(idle.running, true);
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(idle.running, false);
    } finally {
      idle.dispose();
    }
  });
});
