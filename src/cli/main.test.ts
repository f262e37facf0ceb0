import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { progressPrinter } from './main';
import { ROOT, argmax, fixtureModel, inside, rectangleImage, tempDir } from '../../test/helpers';

const CLI = path.join(ROOT, 'dist', 'cli.js');
const cli = (args: string[], cwd = tempDir()) => spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });

describe('attention-prompt mask (CLI)', () => {
  const work = tempDir('ap-cli-');
  const cache = path.join(work, 'cache');
  const model = fixtureModel('planted-clip');

  it('--json prints the contract and points at the planted region', async () => {
    const region = { left: 300, top: 40, width: 160, height: 120 };
    const image = path.join(work, 'scene.png');
    fs.writeFileSync(image, await rectangleImage(520, 360, 'red', region));
    const r = cli(['mask', image, 'Where is the red box?', '--model', model, '--offline', '--cache-dir', cache, '--json', '--out', 'm.jpg', '--heatmap', 'h.png'], work);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.grid, [14, 14]);
    for (const k of ['clsMap', 'patchMap', 'mask']) {
      assert.equal(j[k].length, 196, k);
      assert.ok(j[k].every((v: number) => v >= 0 && v <= 1), `${k} in [0, 1]`);
    }
    assert.equal(j.layer, 2);
    assert.equal(j.tokens, 8);
    assert.equal(j.truncated, false);
    assert.equal(j.model, model);
    // Row-major, row 0 at the top: the argmax cell's centre lies in the region.
    const i = argmax(j.mask);
    const [rows, cols] = j.grid;
    const cx = ((i % cols) + 0.5) * (520 / cols);
    const cy = (Math.floor(i / cols) + 0.5) * (360 / rows);
    assert.ok(inside(region, cx, cy), `mask peaks at cell ${i} (${cx.toFixed(0)}, ${cy.toFixed(0)})`);
    const masked = await sharp(path.join(work, 'm.jpg')).metadata();
    assert.deepEqual([masked.format, masked.width, masked.height], ['jpeg', 520, 360]);
    assert.equal((await sharp(path.join(work, 'h.png')).metadata()).width, 520);
  });

  it('prints where the outputs went and each stage’s time', async () => {
    const image = path.join(work, 'b.png');
    fs.writeFileSync(image, await rectangleImage(200, 200, 'blue', { left: 10, top: 10, width: 60, height: 60 }));
    const r = cli(['mask', image, 'blue', '--model', model, '--offline', '--cache-dir', cache], work);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /masked image: .*b\.masked\.png/);
    assert.match(r.stdout, /heatmap: +.*b\.overlay\.png/);
    assert.match(r.stdout, /heatmap: vision +\d+ ms/);
    assert.ok(fs.existsSync(path.join(work, 'b.masked.png')));
  });

  it('warns when the question is cut at 77 tokens', async () => {
    const image = path.join(work, 'c.png');
    fs.writeFileSync(image, await rectangleImage(100, 100, 'green', { left: 10, top: 10, width: 40, height: 40 }));
    const r = cli(['mask', image, 'green '.repeat(90), '--model', model, '--offline', '--cache-dir', cache, '--json'], work);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).truncated, true);
    assert.match(r.stderr, /92 tokens; CLIP read only the first 77/);
  });

  it('fails with one clear line and a non-zero exit', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['mask', path.join(work, 'missing.png'), 'q', '--model', model], 1, /Image not found/],
      [['mask', path.join(work, 'scene.png'), '', '--model', model, '--offline', '--cache-dir', cache], 1, /question is empty/],
      [['mask', path.join(work, 'scene.png'), 'red', '--model', model, '--kernel', '4', '--offline', '--cache-dir', cache], 1, /Kernel must be an odd integer/],
      [['mask', path.join(work, 'scene.png'), 'red', '--model', model, '--layer', '9', '--offline', '--cache-dir', cache], 1, /Layer 9 is out of range/],
      [['mask', path.join(work, 'scene.png'), 'red', '--model', model, '--out', 'x.gifx'], 1, /use a \.png, \.jpg or \.webp/],
      [['mask', path.join(work, 'scene.png'), 'red', '--model', 'Xenova/not-cached', '--offline', '--cache-dir', cache], 1, /Offline mode: .*missing config\.json/],
      [['mask', path.join(work, 'scene.png')], 2, /expected an image and a question/],
      [['mask', 'a', 'b', '--bogus'], 2, /Unknown option/],
      [['frobnicate'], 2, /unknown command/],
    ];
    for (const [args, code, message] of cases) {
      const r = cli(args, work);
      assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
    }
  });
});

describe('download progress on a terminal', () => {
  it('prints percent and megabytes on a TTY, nothing otherwise', async () => {
    const written: string[] = [];
    const tty = { isTTY: true, write: (s: string) => (written.push(s), true) };
    const print = progressPrinter(tty as never)!;
    print({ status: 'progress', file: 'onnx/vision_model.onnx', loaded: 612_000_000, total: 1_224_000_000, progress: 50 });
    print({ status: 'done', file: 'onnx/vision_model.onnx' });
    assert.match(written[0], /downloading onnx\/vision_model\.onnx 50% \(612\.0 MB of 1\.22 GB\)/);
    assert.equal(progressPrinter({ isTTY: false, write: () => true } as never), undefined);
  });
});
