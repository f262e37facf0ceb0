import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fixtureModel, tempDir } from '../../test/helpers';
import { startLocalHub } from '../../test/hub/server';
import { DTYPES } from './defaults';
import { cachedPath, checkOfflineFiles, isFullyCached } from './modelCache';
import { availableDtypes } from './modelDtypes';
import { requiredFiles } from './modelFiles';
import { locateModel } from './modelLocation';

describe('model source', () => {
  it('a hub id resolves to the Transformers.js cache layout (main, and a revision folder)', () => {
    const cacheDir = tempDir();
    const main = locateModel({ model: 'Xenova/clip-vit-base-patch16', cacheDir });
    assert.equal(main.local, false);
    assert.equal(cachedPath(main, 'onnx/vision_model.onnx'), path.join(cacheDir, 'Xenova/clip-vit-base-patch16/onnx/vision_model.onnx'));
    const rev = locateModel({ model: 'Xenova/clip-vit-base-patch16', cacheDir, revision: 'abc123' });
    assert.equal(cachedPath(rev, 'config.json'), path.join(cacheDir, 'Xenova/clip-vit-base-patch16/abc123/config.json'));
  });

  it('fp16 asks for the _fp16 files', () => {
    assert.ok(requiredFiles('fp16').includes('onnx/vision_model_fp16.onnx'));
    assert.ok(requiredFiles('fp32').includes('onnx/text_model.onnx'));
  });

  it('a local folder is checked for the Transformers.js layout', () => {
    const loc = locateModel({ model: fixtureModel('tiny-clip') });
    assert.equal(loc.local, true);
    const broken = tempDir();
    fs.writeFileSync(path.join(broken, 'config.json'), '{}');
    assert.throws(() => locateModel({ model: broken }), { code: 'model-missing', message: /has no preprocessor_config\.json/ });
    assert.throws(() => locateModel({ model: './no/such/folder' }), { code: 'model-missing', message: /Model folder not found/ });
  });

  it('refuses a cache inside node_modules, unknown dtypes and malformed ids', () => {
    assert.throws(() => locateModel({ model: 'a/b', cacheDir: '/x/node_modules/cache' }), { code: 'bad-parameter', message: /node_modules/ });
    assert.throws(() => locateModel({ model: 'a/b', dtype: 'int3' as never }), { code: 'bad-parameter', message: /Unknown dtype "int3": use one of fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4/ });
    assert.throws(() => locateModel({ model: 'a/b', textDtype: 'q5' as never }), { code: 'bad-parameter', message: /Unknown text dtype "q5"/ });
    assert.deepEqual(locateModel({ model: 'a/b', dtype: 'q8', textDtype: 'fp32' }).dtypes, { vision: 'q8', text: 'fp32' });
    assert.throws(() => locateModel({ model: 'not a model id' }), { code: 'bad-parameter', message: /neither a model folder nor a hub id/ });
  });

  it('offline: names the first missing file and where it looked', () => {
    const cacheDir = tempDir();
    const loc = locateModel({ model: 'Xenova/clip-vit-base-patch32', cacheDir, offline: true });
    const dir = path.join(cacheDir, 'Xenova/clip-vit-base-patch32');
    fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
    for (const f of requiredFiles('fp32').filter((f) => f !== 'onnx/text_model.onnx')) fs.writeFileSync(path.join(dir, f), 'x');
    assert.throws(() => checkOfflineFiles(loc), { code: 'offline-missing', message: /missing onnx\/text_model\.onnx \(looked at .*text_model\.onnx\)/ });
    fs.writeFileSync(path.join(dir, 'onnx/text_model.onnx'), 'x');
    assert.doesNotThrow(() => checkOfflineFiles(loc));
  });
});

describe('isFullyCached', () => {
  it('is true once every file of the dtype is cached, and for a folder (the extension asks before offering a download)', () => {
    const cacheDir = tempDir();
    const loc = locateModel({ model: 'Xenova/clip-vit-base-patch32', cacheDir, dtype: 'q8' });
    assert.equal(isFullyCached(loc), false, 'nothing cached');
    const files = requiredFiles('q8');
    for (const f of files.slice(0, -1)) {
      fs.mkdirSync(path.dirname(cachedPath(loc, f)), { recursive: true });
      fs.writeFileSync(cachedPath(loc, f), 'x');
    }
    assert.equal(isFullyCached(loc), false, `${files.at(-1)} still missing`);
    assert.equal(isFullyCached(locateModel({ model: 'Xenova/clip-vit-base-patch32', cacheDir, dtype: 'fp32' })), false, 'the fp32 files are not the q8 ones');
    fs.writeFileSync(cachedPath(loc, files.at(-1)!), 'x');
    assert.equal(isFullyCached(loc), true);
    assert.equal(isFullyCached(locateModel({ model: fixtureModel('tiny-clip') })), true);
  });
});

describe('availableDtypes', () => {
  it('lists the dtypes a folder offers, with file sizes', async () => {
    const dir = fixtureModel('planted-clip');
    const list = await availableDtypes(locateModel({ model: dir }));
    const byDtype = Object.fromEntries(list.map((d) => [d.dtype, d]));
    assert.deepEqual(list.map((d) => d.dtype), [...DTYPES]);
    assert.equal(byDtype.q8.vision, fs.statSync(path.join(dir, 'onnx', 'vision_model_quantized.onnx')).size);
    assert.equal(byDtype.q8.text, fs.statSync(path.join(dir, 'onnx', 'text_model_quantized.onnx')).size);
    assert.equal(byDtype.q8.cached, true);
    assert.equal(byDtype.q4.text, undefined, 'planted-clip has no text_model_q4.onnx');
    assert.equal(byDtype.q4.cached, false);
  });

  it('asks the hub for the sizes of files not on disk', async () => {
    const hub = await startLocalHub({ 'fixtures/tiny': fixtureModel('tiny-clip') });
    try {
      const list = await availableDtypes(locateModel({ model: 'fixtures/tiny', cacheDir: tempDir(), remoteHost: hub.url }));
      const q4 = list.find((d) => d.dtype === 'q4')!;
      assert.equal(q4.vision, fs.statSync(path.join(fixtureModel('tiny-clip'), 'onnx', 'vision_model_q4.onnx')).size);
      assert.equal(q4.cached, false);
      assert.ok(hub.requests.every((r) => r.method === 'HEAD'), 'sizes only: nothing downloaded');
    } finally {
      await hub.close();
    }
  });

  it('gives up on a hub that never answers, with a clear error, and can be cancelled', async () => {
    const hub = await startLocalHub({ 'fixtures/tiny': fixtureModel('tiny-clip') });
    hub.silentHeads.add('onnx/vision_model_q4.onnx');
    try {
      const loc = locateModel({ model: 'fixtures/tiny', cacheDir: tempDir(), remoteHost: hub.url });
      // Before, the lookup waited on that HEAD request forever.
      await assert.rejects(availableDtypes(loc, undefined, 300), { code: 'download-failed', message: /did not answer within 0\.3 s when asked for the files of fixtures\/tiny/ });
      const cancel = new AbortController();
      const pending = availableDtypes(loc, cancel.signal);
      setTimeout(() => cancel.abort(), 100);
      await assert.rejects(pending, { code: 'cancelled' });
    } finally {
      await hub.close();
    }
  });

  it('finds the hub that HF_ENDPOINT names when no host is given (the extension host and the engine process read no CLI flag)', async () => {
    const hub = await startLocalHub({ 'fixtures/tiny': fixtureModel('tiny-clip') });
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = hub.url.replace(/\/$/, '');
    try {
      const loc = locateModel({ model: 'fixtures/tiny', cacheDir: tempDir() });
      assert.equal(loc.remoteHost, hub.url);
      const list = await availableDtypes(loc);
      assert.equal(list.find((d) => d.dtype === 'fp32')!.vision, fs.statSync(path.join(fixtureModel('tiny-clip'), 'onnx', 'vision_model.onnx')).size);
      assert.ok(hub.requests.length > 0, 'the sizes came from the HF_ENDPOINT hub');
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
      await hub.close();
    }
  });
});
