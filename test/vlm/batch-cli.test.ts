/**
 * The VLM client's guarantees seen from the batch CLI, against a misbehaving local server: a
 * stalled stream cannot hang a run or hold its concurrency slots, Ctrl-C ends a Retry-After wait
 * with the summary and report, an echoed key reaches no file or log, a dropped connection keeps
 * the partial answer marked incomplete. And the runner asks through the AnswerProvider interface.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { AnswerProvider } from '../../src/core/answerProvider';
import { runBatch } from '../../src/core/batch/runner';
import { DEFAULT_VLM_SETTINGS } from '../../src/core/defaults';
import { PLANTED_CLIP, batchOptions, endCliRuns, makeImages, readResultLines, startCli, type CliRun } from '../batchSetup';
import { rectangleImage, reportRows, tempDir } from '../helpers';
import { FakeVlm, startFakeVlm } from './server';

const KEY = 'sk-proj-CliSecret0123456789abcdefXYZ';

describe('batch CLI against a misbehaving VLM server', () => {
  const work = tempDir('ap-vlm-cli-');
  const cacheDir = path.join(work, 'cache');
  const dataset = path.join(work, 'images');
  let vlm: FakeVlm;
  before(async () => {
    await makeImages(dataset, 4, { name: (i) => `img${i}.png`, image: (i) => rectangleImage(64, 48, 'red', { left: 8 * i, top: 8, width: 20, height: 16 }) });
    vlm = await startFakeVlm({ apiKey: KEY });
  });
  after(async () => {
    // A run that outlived a failed test is ended here, not left behind.
    endCliRuns();
    await vlm.close();
  });

  const start = (out: string, extra: string[]) =>
    startCli(
      ['batch', dataset, '--question', 'where is the red box?', '--out', out, '--model', PLANTED_CLIP, '--cache-dir', cacheDir, '--threads', '1', '--offline', '--vlm-base-url', vlm.baseURL, '--vlm-model', 'test-vision', ...extra],
      { ...process.env, OPENAI_API_KEY: KEY },
    );
  const lines = (out: string) => readResultLines(path.join(out, 'results.jsonl'));

  it('--timeout 3: stalled streams fail every item instead of hanging, and free their slots', { timeout: 120_000 }, async () => {
    vlm.always = { kind: 'stall', afterChunks: 1 };
    const out = path.join(work, 'stalled');
    const aborted = vlm.aborted;
    const n = vlm.requests.length;
    const run = await start(out, ['--timeout', '3', '--concurrency', '2', '--retries', '1']).exited;
    vlm.always = undefined;
    assert.equal(run.code, 1, run.stderr);
    const recs = lines(out);
    assert.equal(recs.length, 4);
    // (A machine too busy to send even the first piece within 3 s gets the other timeout: the run still ends.)
    for (const r of recs) assert.match(r.error?.message ?? '', /sent nothing for 3 s after \d+ characters of the answer|did not answer within 3 s/, r.id);
    // 4 items × 2 answers through 2 slots: every stalled request was closed by the client.
    assert.ok(vlm.requests.length - n >= 8);
    assert.equal(vlm.aborted - aborted, vlm.requests.length - n);
    assert.ok(fs.existsSync(path.join(out, 'report.html')));
  });

  it('Ctrl-C during a Retry-After wait ends the run with its summary and report', { timeout: 40_000 }, async () => {
    vlm.always = { kind: 'status', status: 429, headers: { 'retry-after': '55' } };
    const out = path.join(work, 'interrupted');
    const n = vlm.requests.length;
    const { child, exited } = start(out, ['--concurrency', '2']);
    // Wait until both slots are waiting on Retry-After, then interrupt.
    while (vlm.requests.length - n < 2) {
      const early = await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
      if (early) assert.fail(`the run ended before it was interrupted: ${(early as CliRun).stderr}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    const run = await exited;
    vlm.always = undefined;
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stdout, /interrupted: rerun with --resume/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).interrupted, true);
    assert.ok(fs.existsSync(path.join(out, 'report.html')));
    assert.equal(vlm.requests.length - n, 2, 'no request after the interrupt');
  });

  it('a server echoing the key: no trace of it in results.jsonl, report.html or the log', { timeout: 120_000 }, async () => {
    vlm.always = { kind: 'echo-auth', status: 400 };
    const out = path.join(work, 'echo');
    const run = await start(out, ['--concurrency', '2']).exited;
    vlm.always = undefined;
    assert.equal(run.code, 1, run.stderr);
    const recs = lines(out);
    assert.equal(recs.length, 4);
    assert.ok(recs.every((r) => /authorization: \[redacted\]/.test(r.error?.message ?? '')), JSON.stringify(recs[0].error));
    const files = ['results.jsonl', 'report.html', 'summary.json'].map((f) => fs.readFileSync(path.join(out, f), 'utf8'));
    for (const text of [...files, run.stdout, run.stderr]) {
      assert.ok(!text.includes(KEY), 'the key leaked');
      assert.ok(!text.includes('CliSecret'), 'part of the key leaked');
    }
  });

  it('a connection dropped mid-answer keeps the partial answer, marked incomplete in results and report', { timeout: 120_000 }, async () => {
    vlm.always = { kind: 'drop-mid', afterChunks: 2 };
    const out = path.join(work, 'dropped');
    const run = await start(out, ['--concurrency', '2', '--no-compare']).exited;
    vlm.always = undefined;
    assert.equal(run.code, 0, run.stderr);
    const recs = lines(out);
    assert.equal(recs.length, 4);
    for (const r of recs) {
      assert.equal(r.error, undefined);
      assert.equal(r.maskedAnswer, 'Seen a ');
      assert.match(r.incomplete?.masked ?? '', /dropped after 7 characters/);
    }
    const rows = reportRows(fs.readFileSync(path.join(out, 'report.html'), 'utf8'));
    assert.equal(rows.filter((r) => r.masked === 'Seen a ' && /^the connection to .* dropped after 7 characters/.test(r.maskedIncomplete ?? '')).length, 4);
  });
});

describe('batch runner with any AnswerProvider', () => {
  it('sends the masked and original images as bytes and records the provider’s label', { timeout: 120_000 }, async () => {
    const work = tempDir('ap-vlm-provider-');
    const dataset = path.join(work, 'images');
    fs.mkdirSync(dataset);
    for (let i = 0; i < 2; i++) fs.writeFileSync(path.join(dataset, `img${i}.png`), await rectangleImage(64, 48, 'red', { left: 8 * i, top: 8, width: 20, height: 16 }));
    const seen: Array<{ mime: string; width?: number; height?: number; question: string }> = [];
    // A provider that is not the OpenAI-compatible client (as a VS Code or local model would be).
    const provider: AnswerProvider = {
      kind: 'local',
      label: { model: 'stub-model', where: 'this machine' },
      async answer(request) {
        const meta = await sharp(request.image!.bytes).metadata();
        seen.push({ mime: request.image!.mime, width: meta.width, height: meta.height, question: request.question });
        return { text: `stub ${seen.length}`, model: 'stub-model', elapsedMs: 1, ...(seen.length === 1 ? { incomplete: true, incompleteReason: 'stub cut' } : {}) };
      },
    };
    const out = path.join(work, 'out');
    await runBatch({
      ...batchOptions(dataset, out, path.join(work, 'cache'), { concurrency: 1 }),
      vlm: { ...DEFAULT_VLM_SETTINGS, apiKey: 'unused' },
      answers: provider,
    });
    assert.equal(seen.length, 4);
    assert.ok(seen.every((s) => s.mime === 'image/png' && s.width === 64 && s.height === 48 && s.question === 'where is the red box?'));
    const recs = readResultLines(path.join(out, 'results.jsonl'));
    assert.ok(recs.every((r) => r.vlmModel === 'stub-model' && r.endpointHost === 'this machine' && /^stub \d$/.test(r.maskedAnswer ?? '')));
    assert.equal(recs.filter((r) => r.incomplete).length, 1);
  });
});
