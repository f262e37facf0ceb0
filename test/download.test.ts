/** The real download path against a loopback hub: progress, cache reuse, interruption, 404, offline. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AttentionPromptEngine } from '../src/core/engine';
import { downloadModelFile } from '../src/core/modelDownload';
import { DownloadProgress, locateModel } from '../src/core/modelLocation';
import { fixtureModel, tempDir } from './helpers';
import { LocalHub, startLocalHub } from './hub/server';

const REPO = 'fixtures/planted-clip';

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.relative(dir, path.join(d.parentPath, d.name)));
}

describe('model download through Transformers.js from a local hub', () => {
  let hub: LocalHub;
  before(async () => {
    hub = await startLocalHub({ [REPO]: fixtureModel('planted-clip') }, ['main', 'v1']);
  });
  after(() => hub.close());

  it('downloads with progress events, then reuses the cache without any request', async () => {
    const cacheDir = tempDir();
    const events: DownloadProgress[] = [];
    const engine = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, onProgress: (e) => events.push(e), threads: 1 });
    await engine.dispose();
    const vision = events.filter((e) => e.file === 'onnx/vision_model.onnx');
    assert.ok(vision.some((e) => e.status === 'initiate'));
    const progress = vision.filter((e) => e.status === 'progress');
    assert.ok(progress.length >= 1);
    const last = progress[progress.length - 1];
    assert.equal(last.loaded, fs.statSync(path.join(fixtureModel('planted-clip'), 'onnx', 'vision_model.onnx')).size);
    assert.equal(last.progress, 100);
    assert.ok(vision.some((e) => e.status === 'done'));
    for (const f of ['config.json', 'tokenizer.json', 'onnx/text_model.onnx', 'onnx/vision_model.onnx']) {
      assert.ok(fs.existsSync(path.join(cacheDir, REPO, f)), `${f} cached`);
    }
    assert.ok(hub.requests.some((r) => r.path === `/${REPO}/resolve/main/onnx/vision_model.onnx`));

    const before = hub.requests.length;
    const again = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, threads: 1 });
    await again.dispose();
    assert.equal(hub.requests.length, before, 'second load made no request');
    assert.ok('open prepared graph' in again.loadTimings, 'prepared graph came from the cache');
  });

  it('an interrupted download fails clearly, leaves no partial file, and a retry succeeds', async () => {
    const cacheDir = tempDir();
    hub.faults.push({ file: 'onnx/vision_model.onnx', dropAfterBytes: 100_000, times: 1 });
    await assert.rejects(AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, threads: 1 }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'download-failed');
      assert.match(e.message, /Could not download fixtures\/planted-clip.*retrying is safe/);
      return true;
    });
    const files = listFiles(path.join(cacheDir, REPO));
    assert.ok(!files.some((f) => f.startsWith('onnx/vision_model')), `no partial vision file: ${files.join(', ')}`);
    const engine = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, threads: 1 });
    await engine.dispose();
    assert.equal(
      fs.statSync(path.join(cacheDir, REPO, 'onnx', 'vision_model.onnx')).size,
      fs.statSync(path.join(fixtureModel('planted-clip'), 'onnx', 'vision_model.onnx')).size,
    );
  });

  it('a model that is not on the hub gets a clear error', async () => {
    await assert.rejects(AttentionPromptEngine.load({ model: 'fixtures/no-such-model', cacheDir: tempDir(), remoteHost: hub.url, threads: 1 }), {
      code: 'download-failed',
      message: /fixtures\/no-such-model.*not found.*Check the model id/,
    });
  });

  it('a revision is downloaded and cached under its own folder', async () => {
    const cacheDir = tempDir();
    const engine = await AttentionPromptEngine.load({ model: REPO, revision: 'v1', cacheDir, remoteHost: hub.url, threads: 1 });
    await engine.dispose();
    assert.ok(fs.existsSync(path.join(cacheDir, REPO, 'v1', 'onnx', 'vision_model.onnx')));
    assert.ok(hub.requests.some((r) => r.path === `/${REPO}/resolve/v1/config.json`));
  });

  it('offline mode never touches the network and names the missing file', async () => {
    const cacheDir = tempDir();
    const warm = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, threads: 1 });
    await warm.dispose();
    const before = hub.requests.length;
    const offline = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, offline: true, threads: 1 });
    await offline.dispose();
    fs.rmSync(path.join(cacheDir, REPO, 'onnx', 'vision_model.onnx'));
    await assert.rejects(AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, offline: true, threads: 1 }), {
      code: 'offline-missing',
      message: /missing onnx\/vision_model\.onnx/,
    });
    await assert.rejects(AttentionPromptEngine.load({ model: REPO, cacheDir: tempDir(), remoteHost: hub.url, offline: true, threads: 1 }), {
      code: 'offline-missing',
      message: /missing config\.json/,
    });
    assert.equal(hub.requests.length, before, 'no request in offline mode');
  });

  it('downloads the q8 files (both towers) with progress into the same cache layout', async () => {
    const cacheDir = tempDir();
    const events: DownloadProgress[] = [];
    const engine = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, dtype: 'q8', onProgress: (e) => events.push(e), threads: 1 });
    await engine.dispose();
    for (const f of ['onnx/vision_model_quantized.onnx', 'onnx/text_model_quantized.onnx']) {
      const size = fs.statSync(path.join(fixtureModel('planted-clip'), f)).size;
      assert.equal(fs.statSync(path.join(cacheDir, REPO, f)).size, size, `${f} cached`);
      const mine = events.filter((e) => e.file === f);
      assert.deepEqual([...new Set(mine.map((e) => e.status))], ['initiate', 'download', 'progress', 'done'], f);
      const last = mine.filter((e) => e.status === 'progress').pop()!;
      assert.deepEqual([last.loaded, last.total, last.progress], [size, size, 100]);
    }
    assert.ok(!fs.existsSync(path.join(cacheDir, REPO, 'onnx', 'vision_model.onnx')), 'the fp32 vision file is not fetched');
  });
});

describe('fetching the vision file', () => {
  let hub: LocalHub;
  let repo: string;
  const NOT_ONNX = 'fixtures/not-onnx';
  before(async () => {
    repo = fixtureModel('planted-clip');
    // A repo whose vision file is not an ONNX model: creating a session for it would fail.
    const notOnnx = path.join(tempDir(), 'not-onnx');
    fs.cpSync(repo, notOnnx, { recursive: true });
    fs.writeFileSync(path.join(notOnnx, 'onnx', 'vision_model.onnx'), Buffer.alloc(300_000, 7));
    hub = await startLocalHub({ [REPO]: repo, [NOT_ONNX]: notOnnx });
  });
  after(() => hub.close());

  it('streams it to the cache without creating an ONNX Runtime session', async () => {
    const cacheDir = tempDir();
    const events: DownloadProgress[] = [];
    const loc = locateModel({ model: REPO, cacheDir, remoteHost: hub.url });
    const file = await downloadModelFile(loc, 'onnx/vision_model.onnx', (e) => events.push(e));
    assert.equal(file, path.join(cacheDir, REPO, 'onnx', 'vision_model.onnx'));
    assert.deepEqual(fs.readFileSync(file), fs.readFileSync(path.join(repo, 'onnx', 'vision_model.onnx')));
    assert.equal(events[0].status, 'initiate');
    assert.equal(events[events.length - 1].status, 'done');
  });

  it('a vision file the hub serves that is not ONNX is refused before it is cached (our check, not onnxruntime\'s)', async () => {
    const cacheDir = tempDir();
    await assert.rejects(AttentionPromptEngine.load({ model: NOT_ONNX, cacheDir, remoteHost: hub.url, threads: 1 }), {
      code: 'download-failed',
      message: /broken onnx\/vision_model\.onnx .*not a readable ONNX model/,
    });
    assert.ok(!listFiles(cacheDir).some((f) => f.includes('vision_model')), 'nothing of it cached');
  });

  it('a hub that stops sending mid-file: stopped after the stall time, nothing partial kept, a retry completes', async () => {
    const cacheDir = tempDir();
    const loc = locateModel({ model: REPO, cacheDir, remoteHost: hub.url });
    hub.faults.push({ file: 'onnx/vision_model.onnx', dropAfterBytes: 100_000, times: 1, stall: true });
    await assert.rejects(downloadModelFile(loc, 'onnx/vision_model.onnx', undefined, undefined, 500), {
      code: 'download-failed',
      message: /onnx\/vision_model\.onnx stalled \(no data for 0\.5 s after 100 kB of 675 kB\)/,
    });
    assert.deepEqual(listFiles(cacheDir), [], 'no partial file left in the cache');
    const file = await downloadModelFile(loc, 'onnx/vision_model.onnx', undefined, undefined, 500);
    assert.deepEqual(fs.readFileSync(file), fs.readFileSync(path.join(repo, 'onnx', 'vision_model.onnx')));
  });

  it('a file missing on the hub names the file', async () => {
    const loc = locateModel({ model: REPO, cacheDir: tempDir(), remoteHost: hub.url });
    await assert.rejects(downloadModelFile(loc, 'onnx/text_model_q4.onnx'), { code: 'download-failed', message: /onnx\/text_model_q4\.onnx was not found on the hub \(404/ });
  });
});
