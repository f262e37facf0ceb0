/**
 * Scored dataset review against the fake VLM answering from a script: some items right only when
 * masked, some only unmasked. Accuracies, paired counts and McNemar p-values are checked against
 * values computed by hand; the judge path with a scripted grader; rescoring without requests; a
 * sweep over two layers and two contrasts killed and resumed; three shards merged equal one run.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { mergeOutputs } from '../src/core/batch/merge';
import type { ResultRecord } from '../src/core/batch/results';
import type { BatchOptions } from '../src/core/batch/batchOptions';
import { runBatch } from '../src/core/batch/runner';
import { wilsonInterval } from '../src/core/batch/statistics';
import { MM_VET_RETRY_SUFFIX } from '../src/core/batch/judge';
import { DEFAULT_VLM_SETTINGS } from '../src/core/defaults';
import { runScoreCommand } from '../src/cli/score';
import { PLANTED_CLIP, batchOptions, readResultLines, startCli, stopAtLines } from './batchSetup';
import { rectangleImage, tempDir } from './helpers';
import { FakeVlm, RecordedRequest, startFakeVlm } from './vlm/server';

/**
 * The script, per item: [masked answer, original answer] and the ground truth.
 * Under exact match (hand count):
 *   items 0–3 both right · 4–6 only masked · 7 only original · 8–9 both wrong   (category "open")
 *   item 10 multiple choice, only masked right                                  (category "mc")
 *   item 11 no ground truth: unscored
 * overall: masked 8/11, original 5/11; paired 4 / 4 / 1 / 2; McNemar p = 2·(C(5,0)+C(5,1))/2⁵ = 0.375
 * open:    masked 7/10, original 5/10; paired 4 / 3 / 1 / 2; p = 2·(1+4)/2⁴ = 0.625
 * mc:      masked 1/1, original 0/1;   paired 0 / 1 / 0 / 0; p = 2·1/2¹ = 1
 */
const SCRIPT: Array<{ masked: string; original: string; answer?: string | string[]; choices?: string[]; category?: string }> = [
  { masked: 'Red.', original: 'red', answer: 'red', category: 'open' },
  { masked: 'red', original: 'The red', answer: ['red', 'crimson'], category: 'open' },
  { masked: 'RED', original: 'red!', answer: 'red', category: 'open' },
  { masked: 'crimson', original: 'Crimson', answer: ['red', 'crimson'], category: 'open' },
  { masked: 'red', original: 'blue', answer: 'red', category: 'open' },
  { masked: 'a red', original: 'blue', answer: 'red', category: 'open' },
  { masked: 'red', original: 'blue', answer: 'red', category: 'open' },
  { masked: 'blue', original: 'red', answer: 'red', category: 'open' },
  { masked: 'green', original: 'green', answer: 'red', category: 'open' },
  { masked: 'green', original: 'green', answer: 'red', category: 'open' },
  { masked: '(A) red', original: 'B', answer: 'A', choices: ['red', 'blue'], category: 'mc' },
  { masked: 'whatever', original: 'anything' },
];
const N = SCRIPT.length;
const widthOf = (i: number) => 64 + i;

async function makeItems(dir: string): Promise<{ jsonl: string; means: number[] }> {
  fs.mkdirSync(dir, { recursive: true });
  const means: number[] = [];
  const lines: string[] = [];
  for (let i = 0; i < N; i++) {
    const png = await rectangleImage(widthOf(i), 48, 'red', { left: 8 + i, top: 10, width: 24, height: 20 });
    fs.writeFileSync(path.join(dir, `img${i}.png`), png);
    const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    means.push(data.reduce((a, b) => a + b, 0) / data.length);
    const { masked: _m, original: _o, ...truth } = SCRIPT[i];
    void _m, _o;
    lines.push(JSON.stringify({ id: `item${i}`, image: `img${i}.png`, question: 'where is the red box?', ...truth }));
  }
  const jsonl = path.join(dir, 'items.jsonl');
  fs.writeFileSync(jsonl, lines.join('\n') + '\n');
  return { jsonl, means };
}

/** Which item and which image a request is about: the width names the item; the original has the original's mean. */
function identify(req: RecordedRequest, means: number[]): { item: number; masked: boolean } | undefined {
  if (!req.image) return undefined;
  const item = req.image.width - 64;
  const mean = req.image.rgb.reduce((a, b) => a + b, 0) / req.image.rgb.length;
  return { item, masked: Math.abs(mean - means[item]) > 0.5 };
}

/** The grader's script: the prediction is the third cell of the prompt's last row. */
function grader(prompt: string): string {
  const retry = prompt.endsWith(MM_VET_RETRY_SUFFIX);
  const row = prompt.slice(0, retry ? -MM_VET_RETRY_SUFFIX.length : undefined).split('\n').at(-1)!;
  const prediction = row.split(' | ')[2].toLowerCase();
  if (/red|crimson/.test(prediction)) return '0.9';
  // An unreadable first reply: the protocol asks again with the digit suffix.
  if (prediction.includes('green')) return retry ? '0.6' : 'partly right';
  return '0.0';
}

const counts = (t: { bothRight: number; onlyMaskedRight: number; onlyOriginalRight: number; bothWrong: number }) => [t.bothRight, t.onlyMaskedRight, t.onlyOriginalRight, t.bothWrong];

describe('scored review: does masking help?', () => {
  const work = tempDir('ap-score-');
  const cacheDir = path.join(work, 'cache');
  let vlm: FakeVlm;
  let items: { jsonl: string; means: number[] };
  const options = (outDir: string, extra: Partial<BatchOptions> = {}): BatchOptions => ({
    ...batchOptions(items.jsonl, outDir, cacheDir, { question: undefined, concurrency: 4 }),
    engine: { model: PLANTED_CLIP, cacheDir, threads: 1, offline: true },
    vlm: { ...DEFAULT_VLM_SETTINGS, baseURL: vlm.baseURL, apiKey: 'sk-score', model: 'scripted', maxRetries: 0, compareWithOriginal: true, maxImageSide: 512 },
    ...extra,
  });

  before(async () => {
    items = await makeItems(path.join(work, 'data'));
    vlm = await startFakeVlm({ apiKey: 'sk-score' });
    vlm.script = (req) => {
      if (!req.image) return grader(req.question ?? '');
      const who = identify(req, items.means);
      return who ? (who.masked ? SCRIPT[who.item].masked : SCRIPT[who.item].original) : undefined;
    };
  });
  after(() => vlm.close());

  it('exact accuracies, paired counts and McNemar p-values equal the hand-computed ones', async () => {
    const out = path.join(work, 'exact');
    const before = vlm.requests.length;
    const summary = await runBatch(options(out));
    assert.equal(vlm.requests.length - before, 2 * N, 'one masked and one original request per item, no judge');
    const c = summary.comparison!;
    assert.equal(c.metric, 'exact');
    assert.deepEqual([c.overall.masked.right, c.overall.masked.n, c.overall.original.right, c.overall.original.n], [8, 11, 5, 11]);
    assert.deepEqual(c.overall.masked.ci95, wilsonInterval(8, 11));
    assert.deepEqual(counts(c.overall.table), [4, 4, 1, 2]);
    assert.equal(c.overall.table.mcnemarP, 0.375);
    assert.deepEqual(counts(c.categories.open.table), [4, 3, 1, 2]);
    assert.equal(c.categories.open.table.mcnemarP, 0.625);
    assert.deepEqual([c.categories.open.masked.right, c.categories.open.original.right], [7, 5]);
    assert.deepEqual(counts(c.categories.mc.table), [0, 1, 0, 0]);
    assert.equal(c.categories.mc.table.mcnemarP, 1);
    assert.equal(c.unscored, 1);
    const recs = new Map(readResultLines(path.join(out, 'results.jsonl')).map((r) => [r.id, r]));
    assert.equal(recs.get('item10')!.scores!.masked!.choice!.picked, 'A');
    assert.deepEqual(recs.get('item5')!.scores!.masked, { exact: 1, contains: 1 }); // "a red": the article goes
    assert.equal(recs.get('item11')!.scores, undefined);
    // summary.json on disk says the same, and which interval and test it used.
    const disk = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.equal(disk.comparison.overall.table.mcnemarP, 0.375);
    assert.match(disk.comparison.interval, /Wilson/);
  });

  it('the judge grades open answers by the MM-Vet protocol; rescoring sends nothing', async () => {
    const out = path.join(work, 'judged');
    const before = vlm.requests.length;
    const summary = await runBatch(options(out, { judge: true, metric: 'judge' }));
    const judgeRequests = vlm.requests.slice(before).filter((r) => !r.image);
    // 20 open answers (multiple choice and unscored items are not graded); items 8 and 9 say "green"
    // both ways, the same grading request, asked once per item: 18 grades, plus one retry for each "green".
    assert.equal(judgeRequests.length, 20);
    assert.ok(judgeRequests.every((r) => r.body.max_tokens === 3));
    assert.deepEqual(judgeRequests.filter((r) => r.question!.endsWith(MM_VET_RETRY_SUFFIX)).map((r) => r.body.temperature), [0, 0]);
    // Grades ≥ 0.5 count as right: green (0.6) now passes. Masked right: 0–6, 8, 9, 10; original: 0–3, 7, 8, 9.
    const c = summary.comparison!;
    assert.deepEqual([c.overall.masked.right, c.overall.original.right, c.overall.masked.n], [10, 7, 11]);
    assert.deepEqual(counts(c.overall.table), [6, 4, 1, 0]);
    assert.equal(c.overall.table.mcnemarP, 0.375);
    // MM-Vet's score: the mean grade. Masked (7·0.9 + 0 + 2·0.6)/10, original (5·0.9 + 3·0 + 2·0.6)/10.
    assert.ok(Math.abs(c.overall.judgeMean!.masked! - 0.75) < 1e-12);
    assert.ok(Math.abs(c.overall.judgeMean!.original! - 0.57) < 1e-12);
    assert.match(summary.judge!.prompt, /^Compare the ground truth and prediction from AI models/);
    const rec = readResultLines(path.join(out, 'results.jsonl')).find((r) => r.id === 'item8')!;
    assert.deepEqual(rec.scores!.masked!.judge!.raw, ['partly right', '0.6']);

    // Rescore under another metric: no request reaches the server, the grades stay.
    const requests = vlm.requests.length;
    const io = { out: new CaptureStream(), err: new CaptureStream() };
    assert.equal(await runScoreCommand([out, '--metric', 'exact'], io as never), 0);
    assert.equal(vlm.requests.length, requests);
    const rescored = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.deepEqual(counts(rescored.comparison.overall.table), [4, 4, 1, 2]);
    assert.equal(rescored.comparison.overall.table.mcnemarP, 0.375);
    assert.equal(readResultLines(path.join(out, 'results.jsonl')).find((r) => r.id === 'item8')!.scores!.masked!.judge!.score, 0.6);
    assert.match(io.out.text, /masked 72\.7% .*original 45\.5%/);
    assert.ok(fs.existsSync(path.join(out, 'report.html')));
  });

  it('a judged sweep grades each item\'s answers once, not once per setting', async () => {
    const out = path.join(work, 'judged-sweep');
    const before = vlm.requests.length;
    const summary = await runBatch(options(out, { judge: true, metric: 'judge', sweep: { contrast: [3, 5] } }));
    const sent = vlm.requests.slice(before);
    // The same 20 grading requests as the single run above; the original image asked once per item.
    assert.equal(sent.filter((r) => !r.image).length, 20);
    assert.equal(sent.filter((r) => r.image && !identify(r, items.means)!.masked).length, N);
    assert.equal(sent.filter((r) => r.image && identify(r, items.means)!.masked).length, 2 * N);
    assert.deepEqual(summary.sweep!.map((s) => [s.setting, s.masked.right, s.original.right]), [['contrast=3', 10, 7], ['contrast=5', 10, 7]]);
  });

  it('three shards merged equal a single run, item for item', async () => {
    const single = path.join(work, 'single');
    await runBatch(options(single));
    const shards = [0, 1, 2].map((i) => path.join(work, `shard${i}`));
    const sizes: number[] = [];
    for (const [i, dir] of shards.entries()) {
      const s = await runBatch(options(dir, { shard: { index: i, count: 3 } }));
      sizes.push(s.total);
      assert.equal(s.shard, `${i}/3`);
    }
    assert.equal(sizes.reduce((a, b) => a + b, 0), N);
    assert.ok(sizes.every((n) => n < N), `shard sizes ${sizes}`);
    const merged = path.join(work, 'merged');
    const r = await mergeOutputs(shards, merged, 'exact');
    assert.deepEqual(r.conflicts, []);
    const strip = ({ timings: _t, finishedAt: _f, ...rest }: ResultRecord) => (void _t, void _f, rest);
    const a = readResultLines(path.join(single, 'results.jsonl')).map(strip).sort((x, y) => x.id.localeCompare(y.id));
    const b = readResultLines(path.join(merged, 'results.jsonl')).map(strip).sort((x, y) => x.id.localeCompare(y.id));
    assert.deepEqual(b, a);
    for (const rec of b) assert.ok(fs.readFileSync(path.join(merged, rec.outputs!.masked)).equals(fs.readFileSync(path.join(single, rec.outputs!.masked))), rec.id);
    const s1 = JSON.parse(fs.readFileSync(path.join(single, 'summary.json'), 'utf8')).comparison;
    assert.deepEqual(JSON.parse(JSON.stringify(r.summary.comparison)), s1);
  });

  it('a sweep over two layers and two contrasts: one CLIP pass per image and layer, killed and resumed per (item, setting)', async () => {
    const out = path.join(work, 'sweep');
    const args = ['batch', items.jsonl, '--sweep', 'layer=1,2', 'contrast=3,5', '--out', out, '--model', PLANTED_CLIP, '--cache-dir', cacheDir, '--threads', '1', '--offline', '--vlm-base-url', vlm.baseURL, '--vlm-model', 'scripted', '--concurrency', '2'];
    const env = { ...process.env, OPENAI_API_KEY: 'sk-score' };
    // Slow answers, so the kill lands mid-run.
    vlm.faultFor = () => ({ kind: 'slow', delayMs: 15, chunks: 2 });
    const results = path.join(out, 'results.jsonl');
    await stopAtLines(startCli(args, env), results, 14, 'SIGKILL');
    vlm.faultFor = undefined;
    // Complete lines only: a kill in the middle of a write may leave half of one, which resume drops.
    const first = fs.readFileSync(results, 'utf8').split('\n').filter((l) => {
      try {
        return !!JSON.parse(l);
      } catch {
        return false;
      }
    });
    assert.ok(first.length >= 14 && first.length < 4 * N, `killed after ${first.length} lines`);
    const requestsBefore = vlm.requests.length;
    const { code, stdout, stderr } = await startCli([...args, '--resume'], env).exited;
    assert.equal(code, 0, stdout + stderr);

    const all = readResultLines(results);
    const keys = all.map((r) => `${r.id} ${r.setting}`);
    assert.equal(new Set(keys).size, keys.length, 'each (item, setting) once');
    assert.equal(all.length, 4 * N);
    assert.deepEqual([...new Set(all.map((r) => r.setting))].sort(), ['layer=1 contrast=3', 'layer=1 contrast=5', 'layer=2 contrast=3', 'layer=2 contrast=5']);
    // The lines written before the kill are kept as they were; only the rest was redone.
    const text = fs.readFileSync(results, 'utf8');
    for (const l of first) assert.ok(text.includes(l));
    const resumedMasked = vlm.requests.slice(requestsBefore).filter((r) => r.image && identify(r, items.means)!.masked).length;
    assert.equal(resumedMasked, 4 * N - first.length);
    // Both contrasts of an (item, layer) come from one CLIP pass: the same measured vision time.
    for (const r of all) {
      const twin = all.find((o) => o.id === r.id && o.layer === r.layer && o !== r)!;
      assert.equal(twin.timings.vision, r.timings.vision, `${r.id} layer ${r.layer}`);
      assert.notEqual(twin.parameters.contrast, r.parameters.contrast);
    }
    assert.deepEqual([...new Set(all.map((r) => r.layer))].sort(), [1, 2]);
    // The original image's answer is the same under every setting.
    for (const r of all) assert.equal(r.originalAnswer, SCRIPT[Number(r.id.slice(4))].original);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.deepEqual(summary.sweep.map((s: { rank: number }) => s.rank), [1, 2, 3, 4]);
    for (const s of summary.sweep) assert.equal(s.paired, 11);
    assert.match(stdout, /#1 layer=/);
  });
});

class CaptureStream {
  text = '';
  isTTY = false;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}
