/** `attention-prompt mask --aux lvlm` on the planted LLaVA fixture, offline. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { ROOT, fixtureModel, tempDir } from '../../test/helpers';

const CLI = path.join(ROOT, 'dist', 'cli.js');
const cli = (args: string[], cwd: string) => spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
const PLANTED = path.join(ROOT, 'test', 'fixtures', 'llava', 'planted-llava');
const SCENE = path.join(ROOT, 'test', 'fixtures', 'llava', 'scene64.png');

async function pixel(file: string, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return Array.from(data.subarray(i, i + 3));
}

describe('attention-prompt mask --aux lvlm (CLI)', () => {
  const work = tempDir('ap-cli-lvlm-');
  const cache = path.join(work, 'cache');
  fs.copyFileSync(SCENE, path.join(work, 'photo.png'));

  it('--json: the LVLM contract (raw map, mask, generated text, answer), the map on the red square, the masked image faded to 200', async () => {
    const r = cli(['mask', 'photo.png', 'where is the red square?', '--aux', 'lvlm', '--model', PLANTED, '--offline', '--cache-dir', cache, '--json', '--max-tokens', '8'], work);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.aux, 'lvlm');
    assert.deepEqual(j.grid, [8, 8]);
    assert.equal(j.rawMap.length, 64);
    assert.equal(j.mask.length, 64);
    assert.equal(j.layer, 2);
    assert.equal(j.numLayers, 4);
    assert.equal(j.gray, 200);
    assert.equal(typeof j.generatedText, 'string');
    assert.equal(j.steps, j.generatedTokens);
    assert.equal(typeof j.answer.text, 'string');
    assert.ok(j.answer.text.length > 0);
    assert.equal(j.answer.finishReason, 'length');
    // Planted: the map's maximum lies on the red square (cells rows/cols 1…3).
    const top = j.rawMap.indexOf(Math.max(...j.rawMap));
    assert.ok([1, 2, 3].includes(Math.floor(top / 8)) && [1, 2, 3].includes(top % 8), `argmax cell ${top}`);
    const masked = j.outputs.masked as string;
    assert.ok(fs.existsSync(masked) && fs.existsSync(j.outputs.heatmap));
    const red = await pixel(masked, 20, 20);
    assert.ok(red[0] > 200 && red[1] < 60, `red square kept: ${red}`);
    const far = await pixel(masked, 60, 4);
    const original = await pixel(SCENE, 60, 4);
    // Faded most of the way towards 200 (the mask floor is ≈ 0.12 there).
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(far[c] - 200) < Math.abs(original[c] - 200) / 2 + 3, `faded: ${far} from ${original}`);
  });

  it('prints the masked-image answer as it streams, and --gray overrides the reference’s 200', async () => {
    const r = cli(['mask', 'photo.png', 'what is this?', '--aux', 'lvlm', '--model', PLANTED, '--offline', '--cache-dir', cache, '--gray', '0', '--max-tokens', '3', '--out', 'o.png'], work);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /LVLM map: .*decoder layer 2 of 4, grid 8×8/);
    assert.match(r.stdout, /answer \(masked image\): \S+/);
    const far = await pixel(path.join(work, 'o.png'), 60, 4);
    assert.ok(far.every((v) => v < 60), `faded to black: ${far}`);
  });

  it('a model whose tokens hold terminal escapes: printed as text only, kept exactly in --json', () => {
    // The planted model answers "top …"; this copy's vocabulary spells that token with an OSC
    // window title, a clear-screen CSI, a C1 CSI (U+009B) and a bare carriage return.
    const hostile = path.join(work, 'hostile-llava');
    fs.cpSync(PLANTED, hostile, { recursive: true });
    const escapes = '\x1b]0;pwned\x07\x1b[2J\x9b31m\r';
    const tokenizer = JSON.parse(fs.readFileSync(path.join(hostile, 'tokenizer.json'), 'utf8'));
    const vocab = tokenizer.model.vocab as Record<string, number>;
    vocab[`${escapes}top`] = vocab.top;
    delete vocab.top;
    fs.writeFileSync(path.join(hostile, 'tokenizer.json'), JSON.stringify(tokenizer));
    const args = ['mask', 'photo.png', 'where is the red square?', '--aux', 'lvlm', '--model', hostile, '--offline', '--cache-dir', cache, '--max-tokens', '3', '--out', 'hostile.png'];
    const controls = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
    const text = cli(args, work);
    assert.equal(text.status, 0, text.stderr);
    assert.doesNotMatch(text.stdout, controls, JSON.stringify(text.stdout));
    assert.match(text.stdout, /answer \(masked image\): .*top/, 'the words are still printed');
    const json = cli([...args, '--json'], work);
    assert.equal(json.status, 0, json.stderr);
    assert.doesNotMatch(json.stdout.trimEnd(), controls, 'no raw control character, C1 included, in the JSON line');
    const j = JSON.parse(json.stdout);
    assert.ok(j.answer.text.includes(`${escapes}top`), `the answer itself is kept: ${JSON.stringify(j.answer.text)}`);
    assert.ok(j.generatedText.includes(escapes), 'and the generated text');
  });

  it('usage errors and unsupported models are one clear line', () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['--aux', 'lvlm'], 2, /--aux lvlm needs --model/],
      [['--aux', 'both', '--model', PLANTED], 2, /--aux must be clip or lvlm/],
      [['--aux', 'lvlm', '--model', PLANTED, '--hint', 'red'], 2, /--hint applies to --aux clip only/],
      [['--max-tokens', '5', '--model', fixtureModel('planted-clip')], 2, /--max-tokens applies to --aux lvlm only/],
      [['--aux', 'lvlm', '--model', fixtureModel('planted-clip'), '--offline'], 1, /has no onnx\/vision_encoder\.onnx/],
    ];
    for (const [extra, code, message] of cases) {
      const r = cli(['mask', 'photo.png', 'q?', '--cache-dir', cache, ...extra], work);
      assert.equal(r.status, code, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
  });

  it('--json with the default CLIP auxiliary model says aux "clip"', () => {
    const r = cli(['mask', 'photo.png', 'where is the red square?', '--model', fixtureModel('planted-clip'), '--offline', '--cache-dir', cache, '--json'], work);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).aux, 'clip');
  });

  it('--max-tokens beyond the model’s context is refused before any map is taken (1e9 was accepted)', () => {
    const r = cli(['mask', 'photo.png', 'what is this?', '--aux', 'lvlm', '--model', PLANTED, '--offline', '--cache-dir', cache, '--max-tokens', '1e9', '--out', 'big.png', '--heatmap', 'big-h.png'], work);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--max-tokens 1e9 is more than .*planted-llava can hold: its context is 512 tokens, prompt included; use at most 512/);
    assert.ok(!fs.existsSync(path.join(work, 'big.png')), 'nothing written');
  });
});

describe('attention-prompt batch --aux lvlm (CLI)', () => {
  const work = tempDir('ap-cli-batch-lvlm-');
  const cache = path.join(work, 'cache');
  const photos = path.join(work, 'photos');
  fs.mkdirSync(photos);
  fs.copyFileSync(SCENE, path.join(photos, 'scene.png'));
  const readLines = (file: string) =>
    fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));

  it('maps each item with the local LLaVA, answers with it (--vlm-provider local: no endpoint, no key), the masks equal mask --aux lvlm’s', async () => {
    const q = 'where is the red square?';
    const r = spawnSync(
      process.execPath,
      [CLI, 'batch', 'photos', '--question', q, '--aux', 'lvlm', '--model', PLANTED, '--offline', '--cache-dir', cache, '--vlm-provider', 'local', '--max-tokens', '4', '--out', 'review'],
      { cwd: work, encoding: 'utf8', timeout: 180_000, env: { ...process.env, OPENAI_API_KEY: '' } },
    );
    assert.equal(r.status, 0, r.stderr);
    const [rec] = readLines(path.join(work, 'review', 'results.jsonl'));
    assert.equal(rec.error, undefined, JSON.stringify(rec.error));
    assert.equal(rec.layer, 2);
    assert.equal(rec.parameters.gray, 200);
    assert.equal(rec.endpointHost, 'this machine');
    assert.ok(rec.maskedAnswer.length > 0 && rec.originalAnswer.length > 0, JSON.stringify(rec));
    assert.equal(JSON.parse(fs.readFileSync(path.join(work, 'review', 'settings.json'), 'utf8')).settings.aux, 'lvlm');
    // The same map as the single-image command: pixel-identical masked image.
    const m = cli(['mask', 'photos/scene.png', q, '--aux', 'lvlm', '--model', PLANTED, '--offline', '--cache-dir', cache, '--max-tokens', '1', '--out', 'single.png', '--heatmap', 'single.overlay.png'], work);
    assert.equal(m.status, 0, m.stderr);
    const raw = (f: string) => sharp(f).removeAlpha().raw().toBuffer();
    assert.ok((await raw(path.join(work, 'review', rec.outputs.masked))).equals(await raw(path.join(work, 'single.png'))), 'batch and mask give the same masked image');
    const red = await pixel(path.join(work, 'review', rec.outputs.masked), 20, 20);
    assert.ok(red[0] > 200 && red[1] < 60, `red square kept: ${red}`);
  });

  it('a contrast sweep re-makes the LVLM mask without another model pass; usage errors are one line', () => {
    const s = cli(['batch', 'photos', '--question', 'where is the red square?', '--aux', 'lvlm', '--model', PLANTED, '--offline', '--cache-dir', cache, '--no-vlm', '--sweep', 'contrast=1,8', '--out', 'sweep'], work);
    assert.equal(s.status, 0, s.stderr);
    const recs = readLines(path.join(work, 'sweep', 'results.jsonl'));
    assert.deepEqual(recs.map((x) => x.parameters.contrast).sort((a, b) => a - b), [1, 8]);
    const bytes = recs.map((x) => fs.readFileSync(path.join(work, 'sweep', x.outputs.masked)));
    assert.ok(!bytes[0].equals(bytes[1]), 'the two contrasts give different masks');
    const cases: Array<[string[], RegExp]> = [
      [['--aux', 'lvlm', '--no-vlm'], /--aux lvlm needs --model/],
      [['--aux', 'lvlm', '--model', PLANTED, '--hint', 'red', '--no-vlm'], /--hint applies to --aux clip only/],
      [['--aux', 'lvlm', '--model', PLANTED, '--no-vlm', '--sweep', 'layer=1,2'], /--sweep layer=… applies to --aux clip only/],
      [['--vlm-provider', 'local'], /--vlm-provider local needs --vlm-model/],
      [['--vlm-provider', 'cloud'], /--vlm-provider must be openai or local/],
      [['--vlm-provider', 'local', '--no-vlm'], /--vlm-provider cannot go with --no-vlm/],
    ];
    for (const [extra, message] of cases) {
      const r = cli(['batch', 'photos', '--question', 'q?', '--cache-dir', cache, '--out', 'x', ...extra], work);
      assert.notEqual(r.status, 0, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
  });
});
