/**
 * What keeps a batch run's folder and inputs safe: one run per output folder (real processes,
 * stale locks of killed runs), resume settings, path confinement, links, nothing to do, and an
 * interruption while the provider is stuck.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AnswerProvider } from '../src/core/answerProvider';
import { PixelBudget } from '../src/core/image';
import { DEFAULT_VLM_SETTINGS } from '../src/core/defaults';
import { idFromPath, readItems } from '../src/core/batch/inputs';
import { LOCK_FILE, OutputLock, processStartTime } from '../src/core/batch/outputLock';
import { mergeOutputs } from '../src/core/batch/merge';
import { writeReport } from '../src/core/batch/report';
import type { BatchOptions } from '../src/core/batch/batchOptions';
import { referenceFolder } from '../src/core/batch/referenceLayout';
import { runBatch } from '../src/core/batch/runner';
import { CLI, PLANTED_CLIP, batchOptions, exitCode, makeImages, readResultLines, waitUntil } from './batchSetup';
import { fixtureModel, rectangleImage, reportRows, tempDir } from './helpers';
import { FakeVlm, startFakeVlm } from './vlm/server';

const cacheDir = tempDir('ap-guard-cache-');
/** How images are prepared for a test provider (the endpoint settings are unused). */
const askWith = (compareWithOriginal: boolean) => ({ ...DEFAULT_VLM_SETTINGS, apiKey: '', compareWithOriginal, maxImageSide: 256 });
const options = (input: string, outDir: string, extra: Partial<BatchOptions> = {}): BatchOptions => batchOptions(input, outDir, cacheDir, extra);

describe('one run per output folder', () => {
  const work = tempDir('ap-lock-');
  const dataset = path.join(work, 'images');
  let vlm: FakeVlm;
  before(async () => {
    await makeImages(dataset, 40);
    vlm = await startFakeVlm({ apiKey: 'sk-lock' });
  });
  after(() => vlm.close());
  const env = { ...process.env, OPENAI_API_KEY: 'sk-lock' };
  const args = (out: string, extra: string[] = []) => [CLI, 'batch', dataset, '--question', 'red', '--out', out, '--model', PLANTED_CLIP, '--cache-dir', cacheDir, '--threads', '1', '--offline', '--vlm-base-url', vlm.baseURL, '--vlm-model', 'slow', '--concurrency', '2', ...extra];

  it('a second process is refused while the first runs; a killed run’s lock is recovered; no line is lost', async () => {
    const out = path.join(work, 'shared');
    vlm.always = { kind: 'slow', delayMs: 30, chunks: 2 };
    const first = spawn(process.execPath, args(out), { stdio: 'ignore', env });
    const results = path.join(out, 'results.jsonl');
    await waitUntil(() => fs.existsSync(results) && readResultLines(results).length >= 3, 'the first run to write lines');
    const lock = JSON.parse(fs.readFileSync(path.join(out, LOCK_FILE), 'utf8'));
    assert.equal(lock.pid, first.pid);

    // A second run, and a second run with --resume (which would rewrite results.jsonl): both refused.
    for (const extra of [[], ['--resume']]) {
      const second = spawnSync(process.execPath, args(out, extra), { encoding: 'utf8', env, timeout: 60_000 });
      assert.equal(second.status, 1, second.stderr);
      assert.match(second.stderr, new RegExp(`is in use by process ${first.pid}, started .*choose another --out folder`));
      assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
    }
    first.kill('SIGKILL');
    await exitCode(first);
    const before = readResultLines(results).length;
    assert.ok(before < 40, `killed after ${before} items`);
    assert.ok(fs.existsSync(path.join(out, LOCK_FILE)), 'SIGKILL leaves the lock behind');

    vlm.always = undefined;
    // Asynchronously: the fake endpoint answers from this process's event loop.
    const resumedChild = spawn(process.execPath, args(out, ['--resume']), { stdio: ['ignore', 'ignore', 'pipe'], env });
    let resumedErr = '';
    resumedChild.stderr!.on('data', (d) => (resumedErr += d));
    assert.equal(await exitCode(resumedChild), 0, resumedErr);
    const lines = readResultLines(results);
    assert.equal(lines.length, 40);
    assert.equal(new Set(lines.map((l) => l.id)).size, 40);
    assert.ok(!fs.existsSync(path.join(out, LOCK_FILE)), 'released at the end');
  });

  it('several runs racing for one stale lock: exactly one wins, the others are refused', async () => {
    const out = path.join(work, 'race');
    fs.mkdirSync(out, { recursive: true });
    // A stale lock: a process that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    fs.writeFileSync(path.join(out, LOCK_FILE), JSON.stringify({ pid: dead, host: os.hostname(), startedAt: '2020-01-01T00:00:00Z', token: 'old' }));
    const racers = Array.from({ length: 4 }, () => spawn(process.execPath, args(out, ['--no-vlm']), { stdio: ['ignore', 'ignore', 'pipe'], env }));
    const stderr = racers.map((c) => {
      let s = '';
      c.stderr!.on('data', (d) => (s += d));
      return () => s;
    });
    const codes = await Promise.all(racers.map(exitCode));
    assert.equal(codes.filter((c) => c === 0).length, 1, `exit codes ${codes}: ${stderr.map((s) => s()).join(' | ')}`);
    codes.forEach((c, i) => c !== 0 && assert.match(stderr[i](), /is in use by process \d+/));
    assert.equal(readResultLines(path.join(out, 'results.jsonl')).length, 40);
  });

  it('a live process holds the lock; a recycled pid (another start time) does not', () => {
    const out = tempDir('ap-lock-unit-');
    const lock = OutputLock.acquire(out);
    assert.throws(() => OutputLock.acquire(out), { code: 'output-locked' });
    lock.release();
    assert.ok(!fs.existsSync(path.join(out, LOCK_FILE)));
    // Our own pid, but a start time that is not ours: the pid was reused, the lock is stale.
    const start = processStartTime(process.pid);
    if (start !== undefined) {
      fs.writeFileSync(path.join(out, LOCK_FILE), JSON.stringify({ pid: process.pid, processStart: String(Number(start) + 1), host: os.hostname(), startedAt: 'x', token: 't' }));
      OutputLock.acquire(out).release();
    }
    // A lock from another host cannot be checked: refused, naming the file to delete.
    fs.writeFileSync(path.join(out, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere.example', startedAt: 'x', token: 't' }));
    assert.throws(() => OutputLock.acquire(out), { message: new RegExp(`on elsewhere\\.example.*delete .*${LOCK_FILE}`) });
  });
});

describe('resume settings', () => {
  const work = tempDir('ap-settings-');
  const dataset = path.join(work, 'images');
  before(() => makeImages(dataset, 4));

  it('a resume with other settings is refused, names each difference, and is allowed only when asked', async () => {
    const out = path.join(work, 'out');
    await runBatch(options(dataset, out));
    const recorded = JSON.parse(fs.readFileSync(path.join(out, 'settings.json'), 'utf8'));
    assert.equal(recorded.settings.contrast, 5);
    assert.equal(recorded.settings.layer, 2, 'the resolved layer');
    assert.equal(recorded.settings.question, 'where is the red box?');
    const changes: Array<[Partial<BatchOptions>, RegExp]> = [
      [{ question: 'where is the blue box?' }, /question: "where is the red box\?" → "where is the blue box\?"/],
      [{ mask: { contrast: 7, kernel: 3 } }, /contrast: 5 → 7/],
      [{ mask: { contrast: 5, kernel: 5 } }, /kernel: 3 → 5/],
      [{ engine: { model: fixtureModel('planted-clip-opset17'), cacheDir, threads: 1 } }, /model: .*planted-clip" → .*planted-clip-opset17"/],
      [{ engine: { model: PLANTED_CLIP, cacheDir, threads: 1, layer: 1 } }, /layer: 2 → 1/],
      [{ gray: 128 }, /gray: 0 → 128/],
    ];
    for (const [extra, message] of changes) {
      await assert.rejects(runBatch(options(dataset, out, { ...extra, resume: true })), { code: 'settings-changed', message });
    }
    // Same settings with an explicit default layer: not a change.
    const same = await runBatch(options(dataset, out, { resume: true, engine: { model: PLANTED_CLIP, cacheDir, threads: 1, layer: 2 } }));
    assert.equal(same.skipped, 4);
    const mixed = await runBatch(options(dataset, out, { resume: true, allowChangedSettings: true, mask: { contrast: 7, kernel: 3 } }));
    assert.equal(mixed.skipped, 4);
    const now = JSON.parse(fs.readFileSync(path.join(out, 'settings.json'), 'utf8'));
    assert.equal(now.settings.contrast, 7);
    assert.equal(now.history[0].settings.contrast, 5);
  });
});

describe('paths and ids', () => {
  const work = tempDir('ap-paths-');
  const data = path.join(work, 'data');
  const secret = path.join(work, 'private.png');
  before(async () => {
    await makeImages(path.join(data, 'imgs'), 1);
    fs.writeFileSync(secret, await rectangleImage(32, 32, 'blue', { left: 0, top: 0, width: 8, height: 8 }));
    fs.symlinkSync(secret, path.join(data, 'imgs', 'link.png'));
  });
  const items = async (file: string, allowOutsidePaths = false) => {
    const out = [];
    for await (const i of readItems(file, { question: 'q', allowOutsidePaths })) out.push(i);
    return out;
  };

  it('JSONL and list paths stay inside the dataset folder unless allowed', async () => {
    const cases: Array<[string, RegExp]> = [
      [JSON.stringify({ image: '../private.png', question: 'q' }), /points outside the dataset folder/],
      [JSON.stringify({ image: secret, question: 'q' }), /is an absolute path/],
      [JSON.stringify({ image: 'imgs/link.png', question: 'q' }), /a link that leads outside/],
    ];
    for (const [line, message] of cases) {
      const file = path.join(data, 'q.jsonl');
      fs.writeFileSync(file, line + '\n');
      await assert.rejects(items(file), { code: 'bad-parameter', message });
      const allowed = await items(file, true);
      assert.equal(allowed.length, 1);
      assert.ok(!allowed[0].id.startsWith('.'), allowed[0].id);
    }
    fs.writeFileSync(path.join(data, 'list.txt'), '../private.png\n');
    await assert.rejects(items(path.join(data, 'list.txt')), { message: /list\.txt:1: "\.\.\/private\.png" points outside/ });
    const list = await items(path.join(data, 'list.txt'), true);
    assert.match(list[0].id, /^[\w-]/);
    assert.ok(!list[0].id.startsWith('..'));
  });

  it('ids never start with a dot; the reference layout stays inside --out', () => {
    for (const rel of ['../x.png', '../../etc/passwd.png', '.hidden.png', './a/../b.png']) {
      const id = idFromPath(rel);
      assert.ok(!id.startsWith('.') && !id.includes('/'), `${rel} → ${id}`);
    }
    const out = path.join(work, 'out');
    const folder = referenceFolder(out, '../../x', 'a/../model', 22, { contrast: 5, kernel: 3, interpolation: 'lanczos3', gray: 0 });
    assert.ok(folder.startsWith(out + path.sep), folder);
    const cli = spawnSync(process.execPath, [CLI, 'batch', data, '--question', 'q', '--no-vlm', '--layout', 'reference', '--dataset', '../../x', '--out', out], { encoding: 'utf8' });
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, /--dataset must be a plain name/);
  });

  it('merge copies only files inside each shard folder into the merged folder, whatever results.jsonl says', async () => {
    const shard = path.join(work, 'shard');
    fs.mkdirSync(path.join(shard, 'masked'), { recursive: true });
    fs.writeFileSync(path.join(shard, 'masked', 'ok.png'), 'masked');
    fs.writeFileSync(path.join(work, 'victim.txt'), 'keep me');
    const rec = (id: string, masked: string) => JSON.stringify({ id, image: 'x', question: 'q', parameters: {}, model: 'm', layer: 0, timings: {}, finishedAt: '', outputs: { masked, overlay: '' } });
    fs.writeFileSync(path.join(shard, 'results.jsonl'), [rec('ok', 'masked/ok.png'), rec('escape', '../victim.txt'), rec('abs', secret)].join('\n') + '\n');
    fs.writeFileSync(path.join(shard, 'summary.json'), '{}');
    const merged = path.join(work, 'merged', 'deep');
    await mergeOutputs([shard], merged, 'exact');
    assert.equal(fs.readFileSync(path.join(merged, 'masked', 'ok.png'), 'utf8'), 'masked');
    assert.equal(fs.readFileSync(path.join(work, 'victim.txt'), 'utf8'), 'keep me');
    assert.ok(!fs.existsSync(path.join(work, 'merged', 'victim.txt')), 'nothing written outside the merged folder');
    assert.deepEqual(fs.readdirSync(merged).sort(), ['masked', 'results.jsonl', 'summary.json']);
  });

  it('the report embeds only JPEG thumbnails from thumbs/, whatever results.jsonl says', async () => {
    const out = path.join(work, 'report');
    fs.mkdirSync(path.join(out, 'thumbs'), { recursive: true });
    const jpeg = await (await import('sharp')).default({ create: { width: 4, height: 4, channels: 3, background: '#f00' } }).jpeg().toBuffer();
    fs.writeFileSync(path.join(out, 'thumbs', 'good.jpg'), jpeg);
    fs.writeFileSync(path.join(out, 'outside.jpg'), jpeg);
    fs.writeFileSync(path.join(out, 'thumbs', 'not-a-jpeg.jpg'), 'SECRET-TEXT');
    fs.symlinkSync(path.join(out, 'outside.jpg'), path.join(out, 'thumbs', 'link.jpg'));
    const line = (id: string, original: string) => JSON.stringify({ id, image: 'x', question: 'q', parameters: {}, model: 'm', layer: 0, timings: {}, finishedAt: '', outputs: { masked: '', overlay: '', thumbs: { original, overlay: '', masked: '' } } });
    fs.writeFileSync(path.join(out, 'results.jsonl'), [line('ok', 'thumbs/good.jpg'), line('escape', '../../../../etc/hostname'), line('abs', secret), line('outside', 'outside.jpg'), line('link', 'thumbs/link.jpg'), line('text', 'thumbs/not-a-jpeg.jpg')].join('\n') + '\n');
    const html = fs.readFileSync(await writeReport(out), 'utf8');
    const originals = new Map(reportRows(html).map((r) => [r.id, r.thumbs?.[0]]));
    assert.deepEqual(Object.fromEntries(originals), { ok: `data:image/jpeg;base64,${jpeg.toString('base64')}`, escape: '', abs: '', outside: '', link: '', text: '' }, 'only the real thumbnail');
    assert.ok(!html.includes(Buffer.from('SECRET-TEXT').toString('base64')));
  });
});

describe('inputs that hold nothing, links', () => {
  const work = tempDir('ap-links-');

  it('a folder of linked images (and a link loop) is read; links to folders are followed once', async () => {
    const store = path.join(work, 'store');
    await makeImages(store, 3);
    const links = path.join(work, 'links');
    fs.mkdirSync(links);
    for (const f of fs.readdirSync(store)) fs.symlinkSync(path.join(store, f), path.join(links, f));
    fs.symlinkSync(links, path.join(links, 'loop'));
    fs.symlinkSync(path.join(work, 'missing.png'), path.join(links, 'broken.png'));
    const ids = [];
    for await (const i of readItems(links, { question: 'q' })) ids.push(i.id);
    assert.deepEqual(ids, ['img000', 'img001', 'img002']);
    const summary = await runBatch(options(links, path.join(work, 'out')));
    assert.equal(summary.done, 3);
  });

  it('nothing to do is an error with a message and a non-zero exit', () => {
    const empty = path.join(work, 'empty');
    fs.mkdirSync(empty);
    for (const input of [empty, path.join(empty, '*.png')]) {
      const r = spawnSync(process.execPath, [CLI, 'batch', input, '--question', 'q', '--no-vlm', '--out', path.join(work, 'o'), '--model', PLANTED_CLIP, '--offline', '--cache-dir', cacheDir], { encoding: 'utf8' });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /Nothing to do: .* holds no images/);
    }
  });
});

describe('the runner and a provider that misbehaves', () => {
  const work = tempDir('ap-provider-');
  const dataset = path.join(work, 'images');
  before(() => makeImages(dataset, 6));

  it('slots are released after failures; an interruption while the provider ignores it still ends the run', async () => {
    let calls = 0;
    const failing: AnswerProvider = { kind: 'local', label: { model: 'broken', where: 'this machine' }, answer: async () => (calls++, Promise.reject(new Error('boom'))) };
    const failed = await runBatch(options(dataset, path.join(work, 'failing'), { concurrency: 1, answers: failing, vlm: askWith(true) }));
    assert.equal(failed.failed, 6, 'every item recorded, none stuck behind a leaked slot');
    assert.equal(calls, 12);

    const controller = new AbortController();
    let asked = 0;
    const stuck: AnswerProvider = {
      kind: 'local',
      label: { model: 'stuck', where: 'this machine' },
      answer: () => {
        if (++asked === 2) controller.abort();
        return new Promise(() => undefined); // never settles, ignores the signal
      },
    };
    const out = path.join(work, 'stuck');
    const summary = await runBatch(options(dataset, out, { concurrency: 2, signal: controller.signal, answers: stuck, vlm: askWith(false) }));
    assert.equal(summary.interrupted, true);
    assert.equal(summary.done + summary.failed, 0, 'nothing recorded for unanswered items');
    assert.ok(fs.existsSync(path.join(out, 'summary.json')));
    assert.ok(!fs.existsSync(path.join(out, LOCK_FILE)));
    const recorded = JSON.parse(fs.readFileSync(path.join(out, 'settings.json'), 'utf8')).settings;
    assert.equal(recorded.vlmModel, 'stuck');
    // A local model stops generating at the token limit, so a resume with another limit must notice.
    assert.equal(recorded.maxTokens, DEFAULT_VLM_SETTINGS.maxTokens);
  });

  it('holds no more decoded pixels than the budget, however high the concurrency', async () => {
    const onePicture = 64 * 48;
    const budget = new PixelBudget(3 * onePicture);
    // Answers wait until three requests are pending (or the dataset's last ones): the run is
    // then holding as many images as it will, and the budget says how many that is.
    let waiting: Array<() => void> = [];
    let seen = 0;
    const gathering: AnswerProvider = {
      kind: 'local',
      label: { model: 'gathering', where: 'this machine' },
      answer: () =>
        new Promise((resolve) => {
          seen++;
          waiting.push(() => resolve({ text: 'ok', model: 'gathering', elapsedMs: 0 }));
          if (waiting.length === 3 || seen === 6) {
            waiting.forEach((w) => w());
            waiting = [];
          }
        }),
    };
    const summary = await runBatch(options(dataset, path.join(work, 'budget'), { concurrency: 8, pixelBudget: budget, answers: gathering, vlm: askWith(false) }));
    assert.equal(summary.done, 6);
    assert.equal(budget.peak, 3 * onePicture, 'three images at once: the budget, not the concurrency of 8');
    assert.equal(budget.inUse, 0, 'every image given back');
  });

  it('Ctrl-C during a long Retry-After wait ends the CLI run with a summary and a report', async () => {
    const vlm = await startFakeVlm({ apiKey: 'sk-wait' });
    try {
      vlm.always = { kind: 'status', status: 429, headers: { 'retry-after': '100000' } };
      const out = path.join(work, 'retry');
      const child = spawn(process.execPath, [CLI, 'batch', dataset, '--question', 'red', '--out', out, '--model', PLANTED_CLIP, '--cache-dir', cacheDir, '--threads', '1', '--offline', '--vlm-base-url', vlm.baseURL, '--retries', '3'], {
        stdio: 'ignore',
        env: { ...process.env, OPENAI_API_KEY: 'sk-wait' },
      });
      await waitUntil(() => vlm.requests.length >= 1, 'the first request');
      child.kill('SIGINT');
      assert.equal(await exitCode(child), 130);
      assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).interrupted, true);
      assert.ok(fs.existsSync(path.join(out, 'report.html')));
    } finally {
      await vlm.close();
    }
  });
});
