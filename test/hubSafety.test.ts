/**
 * Model sources against a loopback hub that misbehaves: hub ids a local folder must not hijack,
 * revisions that must not leave the cache, HF_TOKEN kept to the hub's own hosts, short / junk /
 * oversized bodies never cached, broken cache entries dropped once, redirect loops named, and
 * download temp files removed on Ctrl-C or swept after a kill.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_HUB_REDIRECTS, SEND_HF_TOKEN_ENV } from '../src/core/defaults';
import { sweepStaleTemps } from '../src/core/downloadTemps';
import { AttentionPromptEngine } from '../src/core/engine';
import { cachedPath } from '../src/core/modelCache';
import { downloadModelFile } from '../src/core/modelDownload';
import { locateModel } from '../src/core/modelLocation';
import { ROOT, fixtureModel, rectangleImage, tempDir } from './helpers';
import { LocalHub, startLocalHub } from './hub/server';

const REPO = 'fixtures/planted-clip';
const SOURCE = fixtureModel('planted-clip');
const VISION = 'onnx/vision_model.onnx';
const CLI = path.join(ROOT, 'dist', 'cli.js');

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.relative(dir, path.join(d.parentPath, d.name)));
}

async function withEnv<T>(vars: Record<string, string | undefined>, f: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  try {
    return await f();
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
}

describe('what names a hub model and where its cache goes', () => {
  it('a folder in the working directory named like a hub id does not replace the hub model', () => {
    const cwd = tempDir();
    fs.cpSync(SOURCE, path.join(cwd, 'Xenova', 'clip-vit-large-patch14-336'), { recursive: true });
    const was = process.cwd();
    process.chdir(cwd);
    try {
      const hub = locateModel({ model: 'Xenova/clip-vit-large-patch14-336', cacheDir: tempDir() });
      assert.equal(hub.local, false);
      assert.equal(hub.pretrainedId, 'Xenova/clip-vit-large-patch14-336');
      const folder = locateModel({ model: './Xenova/clip-vit-large-patch14-336', cacheDir: tempDir() });
      assert.equal(folder.local, true);
      assert.equal(folder.pretrainedId, path.join(cwd, 'Xenova', 'clip-vit-large-patch14-336'));
      // Not an owner/name: an existing folder is still a folder.
      fs.cpSync(SOURCE, path.join(cwd, 'models'), { recursive: true });
      assert.equal(locateModel({ model: 'models', cacheDir: tempDir() }).local, true);
    } finally {
      process.chdir(was);
    }
  });

  it('~ names the home folder', async () => {
    const home = tempDir();
    fs.cpSync(SOURCE, path.join(home, 'clip'), { recursive: true });
    await withEnv({ HOME: home, USERPROFILE: home }, async () => {
      const loc = locateModel({ model: '~/clip', cacheDir: tempDir() });
      assert.equal(loc.local, true);
      assert.equal(loc.pretrainedId, path.join(home, 'clip'));
    });
  });

  it('a revision that would leave the cache is refused; branches, tags, PR refs and commits pass', () => {
    const cacheDir = tempDir();
    for (const revision of ['../../../escaped', '/etc', 'a/../../b', '..', '.hidden', 'a\\b', 'C:/x', 'x'.repeat(256), '']) {
      assert.throws(() => locateModel({ model: REPO, revision, cacheDir }), { code: 'bad-parameter', message: /is not a branch, tag or commit/ }, JSON.stringify(revision));
    }
    for (const revision of ['main', 'v1.0', 'refs/pr/1', 'a'.repeat(40), 'feature_x-2']) {
      const loc = locateModel({ model: REPO, revision, cacheDir });
      assert.ok(cachedPath(loc, 'config.json').startsWith(path.join(cacheDir, REPO) + path.sep), revision);
    }
  });

  it('the CLI refuses --revision ../../../escaped before doing anything', () => {
    const r = spawnSync(process.execPath, [CLI, 'mask', 'no-image.png', 'q', '--revision', '../../../escaped'], { cwd: tempDir(), encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--revision: Revision "\.\.\/\.\.\/\.\.\/escaped" is not a branch, tag or commit/);
  });
});

describe('a hub that misbehaves', () => {
  let hub: LocalHub;
  before(async () => {
    hub = await startLocalHub({ [REPO]: SOURCE });
  });
  after(() => hub.close());
  const real = fs.readFileSync(path.join(SOURCE, VISION));

  const refused = async (cacheDir: string, message: RegExp) => {
    const loc = locateModel({ model: REPO, cacheDir, remoteHost: hub.url });
    await assert.rejects(downloadModelFile(loc, VISION), { code: 'download-failed', message });
    assert.deepEqual(listFiles(cacheDir), [], 'nothing cached, no temp file left');
    // The next try gets the real file.
    const file = await downloadModelFile(loc, VISION);
    assert.deepEqual(fs.readFileSync(file), real);
  };

  it('a short body (complete response, shorter than the LFS size) is not cached', async () => {
    hub.faults.push({ file: VISION, times: 1, body: real.subarray(0, 1000) });
    await refused(tempDir(), /the hub sent a broken onnx\/vision_model\.onnx .*received 1 kB \(1000 bytes\) where the hub announced .* \(675378 bytes\).*Nothing was cached; retry/);
  });

  it('an oversized body is stopped past the announced size and not cached', async () => {
    hub.faults.push({ file: VISION, times: 1, body: Buffer.concat([real, Buffer.alloc(2_000_000, 1)]) });
    await refused(tempDir(), /broken onnx\/vision_model\.onnx .*more than the .* \(675378 bytes\) the hub announced/);
  });

  it('junk of the announced size is caught by the hub\'s SHA-256', async () => {
    hub.faults.push({ file: VISION, times: 1, body: Buffer.alloc(real.length, 7) });
    await refused(tempDir(), /broken onnx\/vision_model\.onnx .*SHA-256 is not the one the hub lists/);
  });

  it('junk with a lying content-length from a mirror without LFS headers is caught by the ONNX parse', async () => {
    hub.faults.push({ file: VISION, times: 1, plain: true, body: Buffer.from('<html><body>Proxy error</body></html>') });
    await refused(tempDir(), /broken onnx\/vision_model\.onnx .*not a readable ONNX model/);
  });

  it('a junk config.json (a proxy\'s page) fails the load and is not cached by Transformers.js', async () => {
    const cacheDir = tempDir();
    hub.faults.push({ file: 'config.json', times: 1, body: Buffer.from('<html>captive portal</html>') });
    await assert.rejects(AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, threads: 1 }), {
      code: 'download-failed',
      message: /broken config\.json .*not valid JSON/,
    });
    assert.ok(!fs.existsSync(path.join(cacheDir, REPO, 'config.json')), 'the junk config.json is not cached');
    const engine = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, threads: 1 });
    await engine.dispose();
  });

  it('a redirect loop is named: too many redirects, from which URL and host', async () => {
    const loc = locateModel({ model: REPO, cacheDir: tempDir(), remoteHost: hub.url });
    hub.faults.push({ file: VISION, times: 1000, redirectLoop: true });
    try {
      await assert.rejects(downloadModelFile(loc, VISION), {
        code: 'download-failed',
        message: new RegExp(`Too many redirects \\(more than ${MAX_HUB_REDIRECTS}\\) fetching ${hub.url}${REPO}/resolve/main/onnx/vision_model\\.onnx, through 127\\.0\\.0\\.1:\\d+; it loops back to`),
      });
      // Transformers.js's own downloads (config.json) say the same.
      hub.faults.push({ file: 'config.json', times: 1000, redirectLoop: true });
      await assert.rejects(AttentionPromptEngine.load({ model: REPO, cacheDir: tempDir(), remoteHost: hub.url, threads: 1 }), { code: 'download-failed', message: /Too many redirects .*config\.json/ });
    } finally {
      hub.faults.length = 0;
    }
  });

  it('a cached file that no longer reads is dropped once and downloaded again; offline, the error names the cure', async () => {
    const cacheDir = tempDir();
    const warm = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, threads: 1 });
    await warm.dispose();
    const vision = path.join(cacheDir, REPO, VISION);
    fs.truncateSync(vision, 1000);
    fs.writeFileSync(path.join(cacheDir, REPO, 'config.json'), '<html>');
    await assert.rejects(AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, offline: true, threads: 1 }), {
      code: 'offline-missing',
      message: /cached config\.json of fixtures\/planted-clip is broken .*Run once without --offline/,
    });
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (m: string) => warnings.push(m);
    try {
      const engine = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, threads: 1 });
      await engine.dispose();
    } finally {
      console.warn = warn;
    }
    assert.deepEqual(fs.readFileSync(vision), real);
    assert.ok(warnings.some((w) => /cached onnx\/vision_model\.onnx .* was broken .*downloading it again/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => /cached config\.json .* was broken/.test(w)), warnings.join('\n'));
  });
});

describe('HF_TOKEN', () => {
  let hub: LocalHub;
  before(async () => {
    hub = await startLocalHub({ [REPO]: SOURCE });
    hub.lfsRedirects = true;
  });
  after(() => hub.close());

  it('is not sent to a custom endpoint, by our downloader or by Transformers.js', async () => {
    await withEnv({ HF_TOKEN: 'hf_secret', [SEND_HF_TOKEN_ENV]: undefined }, async () => {
      hub.requests.length = 0;
      const engine = await AttentionPromptEngine.load({ model: REPO, cacheDir: tempDir(), remoteHost: hub.url, threads: 1 });
      await engine.dispose();
      assert.ok(hub.requests.some((r) => r.path.endsWith('/config.json')) && hub.requests.some((r) => r.path.endsWith(VISION)));
      assert.deepEqual(hub.requests.filter((r) => r.authorization), [], 'no request carried the token');
    });
  });

  it(`is sent to the custom endpoint's own host with ${SEND_HF_TOKEN_ENV}=1, never to the host it redirects to`, async () => {
    await withEnv({ HF_TOKEN: 'hf_secret', [SEND_HF_TOKEN_ENV]: '1' }, async () => {
      hub.requests.length = 0;
      const engine = await AttentionPromptEngine.load({ model: REPO, cacheDir: tempDir(), remoteHost: hub.url, threads: 1 });
      await engine.dispose();
      const toHub = hub.requests.filter((r) => r.host.startsWith('127.0.0.1'));
      const toStore = hub.requests.filter((r) => r.host.startsWith('localhost'));
      assert.ok(toStore.length >= 2, 'the .onnx files came through the redirect');
      assert.ok(toHub.every((r) => r.authorization === 'Bearer hf_secret'), 'every request to the hub carried it');
      assert.deepEqual(toStore.filter((r) => r.authorization), [], 'the file store got no token');
    });
  });

  it('a 401 from a custom endpoint says the token was held back and how to send it', async () => {
    await withEnv({ HF_TOKEN: 'hf_secret', [SEND_HF_TOKEN_ENV]: undefined }, async () => {
      hub.faults.push({ file: VISION, times: 1, status: 401 });
      const loc = locateModel({ model: REPO, cacheDir: tempDir(), remoteHost: hub.url });
      await assert.rejects(downloadModelFile(loc, VISION), {
        code: 'download-failed',
        message: new RegExp(`HTTP 401 .*HF_TOKEN was not sent to 127\\.0\\.0\\.1:\\d+: .*${SEND_HF_TOKEN_ENV}=1`),
      });
    });
  });
});

describe('download temp files', () => {
  it('are removed when the CLI is interrupted mid-download (SIGINT)', async () => {
    const source = tempDir();
    fs.cpSync(SOURCE, source, { recursive: true });
    const hub = await startLocalHub({ [REPO]: source });
    try {
      const work = tempDir();
      const cacheDir = path.join(work, 'cache');
      const image = path.join(work, 'in.png');
      fs.writeFileSync(image, await rectangleImage(64, 64, 'blue', { left: 8, top: 8, width: 20, height: 20 }));
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        hub.faults.push({ file: VISION, times: 1, dropAfterBytes: 100_000, stall: true });
        const child = spawn(process.execPath, [CLI, 'mask', image, 'q', '--model', REPO, '--dtype', 'fp32', '--cache-dir', cacheDir, '--threads', '1', '--out', path.join(work, 'o.png'), '--heatmap', path.join(work, 'h.png')], {
          env: { ...process.env, HF_ENDPOINT: hub.url },
          stdio: 'ignore',
        });
        const exited = new Promise<string>((resolve) => child.on('exit', (code, sig) => resolve(sig ?? String(code))));
        const temps = () => listFiles(cacheDir).filter((f) => f.endsWith('.tmp'));
        const deadline = Date.now() + 60_000;
        while (temps().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.equal(temps().length, 1, 'the stalled download has its temp file');
        child.kill(signal);
        // Ended by the signal itself (exitNow re-raises it: a shell reads 130/143), or exit code 130.
        assert.ok([signal, '130'].includes(await exited), `${signal}: ended with ${await exited}`);
        assert.deepEqual(temps(), [], `no temp file left after ${signal}`);
      }
    } finally {
      await hub.close();
    }
  });

  it('left by a killed process are swept on the next start; a running process\'s are kept', async () => {
    const cacheDir = tempDir();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const folder = path.join(cacheDir, REPO, 'onnx');
    fs.mkdirSync(folder, { recursive: true });
    const stale = path.join(folder, `vision_model.onnx.${dead}-0123456789ab.tmp`);
    const live = path.join(folder, `text_model.onnx.${process.ppid}-0123456789ab.tmp`);
    fs.writeFileSync(stale, 'partial');
    fs.writeFileSync(live, 'partial');
    assert.deepEqual(sweepStaleTemps(path.join(cacheDir, REPO)), [stale]);
    assert.ok(fs.existsSync(live), 'a running process keeps its temp file');
    // The engine's load sweeps: a kill mid-download is cleaned up by the next run.
    fs.writeFileSync(stale, 'partial');
    const hub = await startLocalHub({ [REPO]: SOURCE });
    try {
      const again = await AttentionPromptEngine.load({ model: REPO, cacheDir, remoteHost: hub.url, threads: 1 });
      await again.dispose();
    } finally {
      await hub.close();
    }
    assert.ok(!fs.existsSync(stale), 'swept by the next load');
    assert.ok(fs.existsSync(live), 'still kept');
  });
});
