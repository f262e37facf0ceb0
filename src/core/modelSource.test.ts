import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fixtureModel, tempDir } from '../../test/helpers';
import { cachedPath, checkOfflineFiles, locateModel, requiredFiles } from './modelSource';

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
    assert.throws(() => locateModel({ model: 'a/b', dtype: 'int3' as never }), { code: 'bad-parameter', message: /fp32 or fp16/ });
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
