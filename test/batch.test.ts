/**
 * Batch runs over 200 generated images against a local OpenAI-compatible server that injects
 * faults; a run killed half-way and resumed; Ctrl-C; inputs of every kind.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { readItems } from '../src/core/batch/inputs';
import type { BatchOptions } from '../src/core/batch/batchOptions';
import { runBatch } from '../src/core/batch/runner';
import { writeReport } from '../src/core/batch/report';
import { DEFAULT_VLM_SETTINGS } from '../src/core/defaults';
import { PLANTED_CLIP, batchOptions, makeImages, readResultLines, startCli, stopAtLines } from './batchSetup';
import { rectangleImage, reportRows, tempDir } from './helpers';
import { FakeVlm, startFakeVlm } from './vlm/server';

const COLOURS = ['red', 'green', 'blue', 'yellow'];

/** n images in folders of 50 (part0/img0000.png …), boxes of four colours in moving places. */
const makeDataset = (dir: string, n: number) =>
  makeImages(dir, n, {
    name: (i) => `part${Math.floor(i / 50)}/img${String(i).padStart(4, '0')}.png`,
    image: (i) => rectangleImage(96, 64, COLOURS[i % 4], { left: (i * 7) % 60, top: (i * 3) % 30, width: 30, height: 24 }),
  });

const cacheDir = tempDir('ap-batch-cache-');
const options = (input: string, outDir: string, extra: Partial<BatchOptions> = {}): BatchOptions => batchOptions(input, outDir, cacheDir, { concurrency: 6, ...extra });

describe('batch runs', () => {
  const work = tempDir('ap-batch-');
  const dataset = path.join(work, 'dataset');
  let vlm: FakeVlm;
  before(async () => {
    await makeDataset(dataset, 200);
    vlm = await startFakeVlm({ apiKey: 'sk-batch' });
  });
  after(() => vlm.close());

  it('200 images through a faulty endpoint: every id ends with an answer or an error, none twice', async () => {
    // 429 with Retry-After, 500, a hang past the timeout, malformed JSON, a dropped connection.
    vlm.faultFor = (n) =>
      n % 17 === 0 ? { kind: 'status', status: 429, headers: { 'retry-after': '1' } }
      : n % 23 === 0 ? { kind: 'status', status: 500 }
      : n % 61 === 0 ? { kind: 'hang' }
      : n % 37 === 0 ? { kind: 'malformed' }
      : n % 41 === 0 ? { kind: 'drop' }
      : undefined;
    const out = path.join(work, 'faulty');
    const progress: number[] = [];
    const summary = await runBatch(
      options(dataset, out, {
        vlm: { ...DEFAULT_VLM_SETTINGS, baseURL: vlm.baseURL, apiKey: 'sk-batch', model: 'test-vision', timeoutMs: 1500, maxRetries: 1, compareWithOriginal: true, maxImageSide: 512 },
        onProgress: (p) => progress.push(p.done + p.failed),
      }),
    );
    vlm.faultFor = undefined;
    const lines = readResultLines(path.join(out, 'results.jsonl'));
    const ids = lines.map((l) => l.id);
    assert.equal(lines.length, 200);
    assert.equal(new Set(ids).size, 200, 'no id twice');
    const expected: string[] = [];
    for await (const item of readItems(dataset, { question: 'q' })) expected.push(item.id);
    assert.deepEqual([...ids].sort(), [...expected].sort());
    for (const l of lines) {
      const answered = l.maskedAnswer !== undefined && l.originalAnswer !== undefined;
      assert.ok(answered !== !!l.error, `${l.id}: answered xor error`);
      if (answered) assert.match(l.maskedAnswer!, /^Seen a 96x64 image\. You asked: where is the red box\?$/);
      assert.ok(fs.existsSync(path.join(out, l.outputs!.masked)), `${l.id} masked image written`);
      assert.ok(fs.existsSync(path.join(out, l.outputs!.overlay)));
      assert.equal(l.endpointHost, new URL(vlm.baseURL).host);
    }
    const errors = lines.filter((l) => l.error);
    assert.ok(errors.length > 0, 'some injected faults outlast one retry');
    assert.ok(errors.length < 40, `most requests succeed (${errors.length} failed)`);
    assert.ok(errors.every((e) => /vlm-(masked|original)/.test(e.error!.stage)));
    assert.equal(summary.done, 200 - errors.length);
    assert.equal(summary.failed, errors.length);
    assert.equal(summary.skipped, 0);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).failed, errors.length);
    assert.equal(progress.at(-1), 200);
    // The 429s were retried after their Retry-After: those requests appear twice at the server.
    assert.ok(vlm.requests.length > 400, `${vlm.requests.length} requests for 400 answers`);
    const report = fs.readFileSync(await writeReport(out, summary), 'utf8');
    const rows = reportRows(report);
    assert.equal(rows.length, 200);
    const thumbs = rows.flatMap((r) => r.thumbs ?? []);
    assert.ok(thumbs.length >= 3 * summary.done, `${thumbs.length} thumbnails`);
    assert.ok(thumbs.every((t) => t.startsWith('data:image/jpeg;base64,')), 'self-contained: every image is a data URL');
    assert.ok(!/\ssrc="/.test(report), 'no image element in the markup');
  });

  it('a run killed half-way and resumed has each id exactly once and every output', async () => {
    const out = path.join(work, 'killed');
    const args = ['batch', dataset, '--question', 'where is the blue box?', '--no-vlm', '--out', out, '--model', PLANTED_CLIP, '--cache-dir', cacheDir, '--threads', '1', '--offline'];
    const results = path.join(out, 'results.jsonl');
    await stopAtLines(startCli(args), results, 100, 'SIGKILL');
    const partial = readResultLines(results).length;
    assert.ok(partial >= 100 && partial < 200, `killed after ${partial} items`);
    // What a kill in the middle of a write leaves behind: half a line.
    fs.appendFileSync(results, '{"id":"part3__img0199","image":"/x","quest');
    const { code, stdout } = await startCli([...args, '--resume']).exited;
    assert.equal(code, 0, stdout);
    const lines = readResultLines(results);
    assert.equal(lines.length, 200);
    assert.equal(new Set(lines.map((l) => l.id)).size, 200);
    assert.match(stdout, new RegExp(`${200 - partial} done, 0 failed, ${partial} skipped of 200`));
    for (const l of lines) {
      assert.ok(fs.existsSync(path.join(out, l.outputs!.masked)));
      assert.ok(fs.existsSync(path.join(out, l.outputs!.thumbs!.masked)));
    }
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.deepEqual([summary.done, summary.skipped, summary.failed], [200 - partial, partial, 0]);
  });

  it('Ctrl-C stops cleanly: complete lines only, exit 130, and --resume finishes', async () => {
    const out = path.join(work, 'interrupted');
    const args = ['batch', dataset, '--question', 'green', '--out', out, '--model', PLANTED_CLIP, '--cache-dir', cacheDir, '--threads', '1', '--offline', '--vlm-base-url', vlm.baseURL, '--vlm-model', 'slow', '--concurrency', '4'];
    vlm.always = { kind: 'slow', delayMs: 20, chunks: 3 };
    const env = { ...process.env, OPENAI_API_KEY: 'sk-batch' };
    const results = path.join(out, 'results.jsonl');
    const { code } = await stopAtLines(startCli(args, env), results, 31, 'SIGINT');
    assert.equal(code, 130);
    const text = fs.readFileSync(results, 'utf8');
    assert.ok(text.endsWith('\n'));
    const lines = readResultLines(results);
    assert.ok(lines.length < 200);
    assert.ok(lines.every((l) => !l.error), 'interrupted requests are not recorded as failures');
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).interrupted, true);
    const resumed = await startCli([...args, '--resume'], env).exited;
    assert.equal(resumed.code, 0, resumed.stderr);
    vlm.always = undefined;
    const all = readResultLines(results);
    assert.equal(all.length, 200);
    assert.equal(new Set(all.map((l) => l.id)).size, 200);
    assert.ok(all.every((l) => /You asked: green$/.test(l.maskedAnswer ?? '')));
  });

  it('reports its rate over the processing: the model load is timed apart, not counted', async () => {
    // A layer sweep loads one engine per layer; both loads stay out of the rate.
    const out = path.join(work, 'rate');
    const summary = await runBatch(options(path.join(dataset, 'part0'), out, { sweep: { layer: [0, 1] } }));
    assert.equal(summary.done, 100);
    assert.ok(summary.loadMs > 0 && summary.loadMs < summary.elapsedMs, `load ${summary.loadMs} of ${summary.elapsedMs} ms`);
    // Before this, the clock started before the model loaded, so the rate counted the load.
    const processingSeconds = (summary.elapsedMs - summary.loadMs) / 1000;
    assert.ok(summary.imagesPerSecond >= summary.done / processingSeconds, `${summary.imagesPerSecond} images/s, ${summary.done} in ${processingSeconds} s`);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).loadMs, summary.loadMs);
  });

  it('refuses to overwrite a finished run without --resume', async () => {
    await assert.rejects(runBatch(options(dataset, path.join(work, 'killed'))), { code: 'output-exists', message: /--resume/ });
  });

  it('reads JSONL (ids, hints, relative paths), lists and globs; writes the reference layout', async () => {
    const dir = path.join(work, 'mixed');
    fs.mkdirSync(path.join(dir, 'imgs'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'imgs', 'a.png'), await rectangleImage(120, 80, 'red', { left: 70, top: 10, width: 40, height: 30 }));
    fs.writeFileSync(path.join(dir, 'imgs', 'b.jpg'), await sharp(await rectangleImage(120, 80, 'blue', { left: 5, top: 40, width: 40, height: 30 })).jpeg().toBuffer());
    fs.writeFileSync(path.join(dir, 'imgs', 'broken.png'), 'not an image');
    fs.writeFileSync(
      path.join(dir, 'q.jsonl'),
      [
        { id: 'first', image: 'imgs/a.png', question: 'What is in the corner?', hint: 'red' },
        { image: 'imgs/b.jpg', question: 'blue?' },
        { id: 'bad', image: 'imgs/broken.png', question: 'and this?' },
      ].map((o) => JSON.stringify(o)).join('\n') + '\n',
    );
    fs.writeFileSync(path.join(dir, 'list.txt'), 'imgs/a.png\n# a comment\nimgs/b.jpg\n');
    const items = [];
    for await (const i of readItems(path.join(dir, 'q.jsonl'))) items.push(i);
    assert.deepEqual(items.map((i) => [i.id, path.relative(dir, i.image), i.hint]), [['first', 'imgs/a.png', 'red'], ['imgs__b', 'imgs/b.jpg', undefined], ['bad', 'imgs/broken.png', undefined]]);
    const listed = [];
    for await (const i of readItems(path.join(dir, 'list.txt'), { question: 'q' })) listed.push(i.id);
    assert.deepEqual(listed, ['imgs__a', 'imgs__b']);
    const globbed = [];
    for await (const i of readItems(path.join(dir, 'imgs', '*.png'), { question: 'q' })) globbed.push(i.id);
    assert.deepEqual(globbed, ['a', 'broken']);
    await assert.rejects(async () => {
      for await (const i of readItems(path.join(dir, 'list.txt'))) void i;
    }, { code: 'bad-query' });

    const out = path.join(work, 'mixed-out');
    const summary = await runBatch(options(path.join(dir, 'q.jsonl'), out, { referenceLayout: { dataset: 'mmvet' } }));
    assert.deepEqual([summary.done, summary.failed], [2, 1]);
    const lines = readResultLines(path.join(out, 'results.jsonl'));
    const bad = lines.find((l) => l.id === 'bad')!;
    assert.equal(bad.error!.stage, 'decode');
    assert.match(bad.error!.message, /unsupported image format|could not be read/);
    const first = lines.find((l) => l.id === 'first')!;
    assert.equal(first.hint, 'red');
    const ref = path.join(out, 'APICLIP_mmvet_planted-clip_2', '5_3_LANCZOS_0');
    assert.deepEqual(fs.readdirSync(ref).sort(), ['first.jpg', 'imgs__b.jpg']);
    assert.equal((await sharp(path.join(ref, 'first.jpg')).metadata()).width, 120);
    assert.ok(lines.find((l) => l.id === 'imgs__b')!.outputs!.masked.endsWith('.jpg'), 'JPEG sources stay JPEG');
  });
});
