import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { DTYPES, Dtype } from '../core/defaults';
import { towerFile } from '../core/modelFiles';
import { progressPrinter, runMask } from './main';
import { startLocalHub } from '../../test/hub/server';
import { PYTHON, ROOT, argmax, fixtureModel, inside, rectangleImage, tempDir } from '../../test/helpers';

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

  it('--dtype (every dtype of the fixture), and one tower per dtype, work offline on the fixture and point at the region', async () => {
    const region = { left: 40, top: 200, width: 150, height: 120 };
    const image = path.join(work, 'q.png');
    fs.writeFileSync(image, await rectangleImage(480, 360, 'green', region));
    // Every dtype the generator wrote for this fixture (its text tower exists in fp32 and the 8-bit forms).
    const offered = DTYPES.filter((d) => fs.existsSync(path.join(model, towerFile('vision', d))));
    assert.deepEqual(offered, [...DTYPES], 'the planted fixture has every dtype');
    const textOf = (d: Dtype) => (fs.existsSync(path.join(model, towerFile('text', d))) ? d : 'q8');
    const runs = [...offered.map((d) => (textOf(d) === d ? ['--dtype', d] : ['--vision-dtype', d, '--text-dtype', textOf(d)])), ['--dtype', 'bnb4', '--text-dtype', 'fp32']];
    for (const dtypes of runs) {
      const r = cli(['mask', image, 'the green box', '--model', model, '--offline', '--cache-dir', cache, '--json', ...dtypes], work);
      assert.equal(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      const i = argmax(j.mask);
      const [rows, cols] = j.grid;
      assert.ok(inside(region, ((i % cols) + 0.5) * (480 / cols), (Math.floor(i / cols) + 0.5) * (360 / rows)), `${dtypes.join(' ')}: mask peaks at cell ${i}`);
    }
    const bad = cli(['mask', image, 'green', '--model', model, '--offline', '--dtype', 'q3'], work);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--dtype must be one of fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4, got "q3"/);
  });

  it('--dtype q8 from a hub (HF_ENDPOINT): downloads the q8 files with progress, then masks', async () => {
    const hub = await startLocalHub({ 'fixtures/planted-clip': model });
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = hub.url;
    try {
      const region = { left: 20, top: 20, width: 120, height: 100 };
      const image = path.join(work, 'hub.png');
      fs.writeFileSync(image, await rectangleImage(320, 240, 'blue', region));
      const hubCache = path.join(work, 'hub-cache');
      const out: string[] = [];
      const err: string[] = [];
      const stream = <T>(into: string[], isTTY: boolean) => ({ isTTY, write: (x: string) => (into.push(x), true) }) as unknown as T;
      // In-process, so outputs go in the test's folder (the default, "here", was the repository).
      const masked = path.join(work, 'hub.masked.png');
      const overlay = path.join(work, 'hub.overlay.png');
      const code = await runMask([image, 'the blue box', '--model', 'fixtures/planted-clip', '--dtype', 'q8', '--cache-dir', hubCache, '--json', '--threads', '1', '--out', masked, '--heatmap', overlay], { out: stream<typeof process.stdout>(out, false), err: stream<typeof process.stderr>(err, true) });
      assert.equal(code, 0, err.join(''));
      assert.ok(fs.existsSync(masked) && fs.existsSync(overlay), 'outputs written where asked');
      for (const f of ['onnx/vision_model_quantized.onnx', 'onnx/text_model_quantized.onnx']) {
        assert.match(err.join(''), new RegExp(`downloading ${f} 100%`), `progress shown for ${f}`);
        assert.ok(hub.requests.some((r) => r.path === `/fixtures/planted-clip/resolve/main/${f}`), `${f} fetched from the hub`);
      }
      assert.ok(!hub.requests.some((r) => r.path.endsWith('/onnx/vision_model.onnx')), 'the fp32 vision file is not fetched');
      const j = JSON.parse(out.join(''));
      const i = argmax(j.mask);
      const [rows, cols] = j.grid;
      assert.ok(inside(region, ((i % cols) + 0.5) * (320 / cols), (Math.floor(i / cols) + 0.5) * (240 / rows)), `mask peaks at cell ${i}`);
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
      await hub.close();
    }
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
      [['mask', path.join(work, 'scene.png'), 'red', '--model', model, '--kernel', '4', '--offline', '--cache-dir', cache], 2, /--kernel: Kernel must be an odd integer from 1 to 9/],
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

describe('where mask writes the overlay (CLI)', () => {
  it('beside --out unless --heatmap names it; nothing appears in the working folder', async () => {
    const work = tempDir('ap-cli-where-');
    const here = path.join(work, 'here');
    fs.mkdirSync(here);
    const image = path.join(work, 'photo.png');
    fs.writeFileSync(image, await rectangleImage(60, 40, 'red', { left: 0, top: 0, width: 20, height: 20 }));
    const run = (...extra: string[]) => cli(['mask', image, 'red', '--model', fixtureModel('planted-clip'), '--offline', '--cache-dir', path.join(work, 'cache'), ...extra], here);
    const written: Array<[string[], string[]]> = [
      [['--out', 'elsewhere/x.jpg'], ['elsewhere/x.jpg', 'elsewhere/x.overlay.png']],
      [['--out', path.join(work, 'abs', 'photo.masked.png')], ['../abs/photo.masked.png', '../abs/photo.overlay.png']],
      [['--out', 'elsewhere/y.png', '--heatmap', 'maps/y-heat.png'], ['elsewhere/y.png', 'maps/y-heat.png']],
    ];
    for (const [extra, files] of written) {
      const r = run(...extra);
      assert.equal(r.status, 0, r.stderr);
      for (const f of files) assert.ok(fs.existsSync(path.join(here, f)), `${extra.join(' ')}: ${f} written`);
      assert.match(r.stdout, new RegExp(`heatmap: +${path.resolve(here, files[1]).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    }
    assert.deepEqual(fs.readdirSync(here).sort(), ['elsewhere', 'maps'], 'no overlay in the working folder');
    assert.ok(!fs.existsSync(path.join(work, 'photo.overlay.png')), 'nor beside the input');
    // An input named like an overlay: the default beside --out would be the input itself.
    const scan = path.join(work, 'scan.overlay.png');
    fs.copyFileSync(image, scan);
    const refused = cli(['mask', scan, 'red', '--model', fixtureModel('planted-clip'), '--offline', '--cache-dir', path.join(work, 'cache'), '--out', path.join(work, 'scan.png')], here);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /default path beside --out, .*scan\.overlay\.png, is the input image; name another file with --heatmap/);
    assert.deepEqual(fs.readFileSync(scan), fs.readFileSync(image), 'the input is untouched');
  });
});

describe('error lines on a terminal (CLI)', () => {
  it('an escape sequence in a name echoed by an error is not passed to the terminal', () => {
    const work = tempDir('ap-cli-escapes-');
    const cases: Array<[string[], RegExp]> = [
      [['mask', 'photo\x1b]0;pwned\x07\x1b[2J\x9b31m\r.png', 'q', '--model', fixtureModel('planted-clip'), '--offline'], /Image not found.*photo.*\.png/],
      [['frob\x1b]0;pwned\x07nicate'], /unknown command "frobnicate"/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args, work);
      assert.ok(r.status === 1 || r.status === 2, r.stderr);
      assert.doesNotMatch(r.stderr, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, JSON.stringify(r.stderr));
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
  });
});

describe('names from result files on a terminal (CLI)', () => {
  it('merge prints a conflicting id without its escape sequences', () => {
    const work = tempDir('ap-cli-merge-escapes-');
    const id = 'item\x1b]0;pwned\x07\x1b[2J\x9b31m\r2';
    const parameters = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', geometry: 'full' };
    const write = (name: string, answer: string) => {
      const dir = path.join(work, name);
      fs.mkdirSync(dir);
      const record = { id, image: '/data/x.png', question: 'what colour?', parameters, model: 'm', layer: 2, timings: {}, finishedAt: '2026-01-01T00:00:00Z', maskedAnswer: answer, originalAnswer: answer, answer };
      fs.writeFileSync(path.join(dir, 'results.jsonl'), JSON.stringify(record) + '\n');
      fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({ model: 'm', parameters }));
      return dir;
    };
    const r = cli(['merge', write('a', 'red'), write('b', 'blue'), '--out', path.join(work, 'merged')], work);
    assert.equal(r.status, 1, 'a conflict exits 1: ' + r.stderr);
    assert.doesNotMatch(r.stderr, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, JSON.stringify(r.stderr));
    assert.match(r.stderr, /conflict: item.*2 .*differs in maskedAnswer/);
  });
});

describe('download progress on a terminal', () => {
  it('prints percent and megabytes on a TTY, nothing otherwise', async () => {
    const written: string[] = [];
    const tty = { isTTY: true, write: (s: string) => (written.push(s), true) };
    const print = progressPrinter(tty as never)!;
    print({ status: 'progress', file: 'onnx/vision_model.onnx', loaded: 612_000_000, total: 1_224_000_000, progress: 50 });
    print({ status: 'done', file: 'onnx/vision_model.onnx' });
    assert.match(written[0], /downloading onnx\/vision_model\.onnx 50% \(612 MB of 1\.22 GB\)/);
    assert.equal(progressPrinter({ isTTY: false, write: () => true } as never), undefined);
  });
});

describe('transparency under --geometry reference (CLI)', () => {
  it('the reference geometry sees an RGBA image as the reference’s transform does (premultiplied, alpha dropped after the crop): not the colour hidden under transparency', async () => {
    const work = tempDir('ap-cli-alpha-');
    const model = fixtureModel('planted-clip');
    const cache = path.join(work, 'cache');
    // Red under full transparency on the left, opaque blue on the right, a non-square frame.
    const width = 90;
    const height = 60;
    const rgba = Buffer.alloc(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) rgba.set(x < 45 ? [255, 0, 0, 0] : [0, 0, 255, 255], (y * width + x) * 4);
    }
    const transparent = path.join(work, 'rgba.png');
    fs.writeFileSync(transparent, await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer());
    const converted = path.join(work, 'pil-rgb.png');
    const pil = spawnSync(PYTHON, ['-c', 'import sys; from PIL import Image; Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2])', transparent, converted]);
    assert.equal(pil.status, 0, String(pil.stderr));
    const maskOf = (file: string, geometry: string) => {
      const r = cli(['mask', file, 'where is the red box?', '--model', model, '--offline', '--cache-dir', cache, '--geometry', geometry, '--json', '--out', `${geometry}.png`, '--heatmap', `${geometry}.h.png`], work);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { mask: number[]; grid: [number, number] };
    };
    /** The mask's mean over the left half of the grid minus over the right half. */
    const leftFavoured = ({ mask, grid: [w, h] }: { mask: number[]; grid: [number, number] }) => {
      let left = 0;
      let right = 0;
      mask.forEach((v, i) => ((i % w) < w / 2 ? (left += v) : (right += v)));
      return (left - right) / ((w * h) / 2);
    };
    // Converted to RGB first, the hidden red shows and is what a red question finds. The reference's
    // transform resizes the RGBA image premultiplied (PIL's RGBa), so fully transparent pixels are
    // black to CLIP and no red is left (modelInput.test checks those pixels byte for byte).
    assert.ok(leftFavoured(maskOf(converted, 'reference')) > 0.5, 'converted: the red half is found');
    assert.ok(Math.abs(leftFavoured(maskOf(transparent, 'reference'))) < 0.1, 'RGBA under the reference: no hidden red');
    assert.notDeepEqual(maskOf(transparent, 'full').mask, maskOf(converted, 'full').mask, 'full: transparent pixels are white, not the hidden red');
  });
});

describe('options are checked before anything loads (CLI)', () => {
  const work = tempDir('ap-cli-options-');
  // A model that does not exist: any check that ran after loading would report the model instead.
  const missingModel = path.join(work, 'no-such-model');
  const image = path.join(work, 'a.png');
  const cache = path.join(work, 'cache');

  it('every bad value is one line naming the option, never a stack trace', async () => {
    fs.writeFileSync(image, await rectangleImage(40, 40, 'red', { left: 0, top: 0, width: 10, height: 10 }));
    fs.writeFileSync(path.join(work, 'afile'), 'x');
    fs.writeFileSync(path.join(work, 'null.jsonl'), '{"image":"a.png","question":"q"}\nnull\n');
    const batch = (...extra: string[]) => ['batch', work, '--question', 'q', '--no-vlm', '--out', path.join(work, 'out'), '--model', missingModel, '--offline', ...extra];
    const vlmBatch = (...extra: string[]) => ['batch', work, '--question', 'q', '--out', path.join(work, 'out'), '--model', missingModel, '--offline', ...extra];
    const mask = (...extra: string[]) => ['mask', image, 'q', '--model', missingModel, '--offline', ...extra];
    const cases: Array<[string[], RegExp]> = [
      [mask('--threads', '100000'), /--threads must be an integer from 0 to 256, got "100000"/],
      [mask('--threads', '1.5'), /--threads must be an integer/],
      [mask('--layer', ''), /--layer must be an integer .*got ""/],
      [mask('--layer', 'x'), /--layer must be an integer/],
      [mask('--gray', '300'), /--gray: Gray must be an integer from 0 to 255, got 300\./],
      [mask('--opacity', '2'), /--opacity must be a number from 0 to 1/],
      [mask('--kernel', '4'), /--kernel: Kernel must be an odd integer from 1 to 9, got 4\./],
      [mask('--contrast', '50'), /--contrast: Contrast must be a number from 0 to 20, got 50\./],
      [mask('--interp', 'fancy'), /--interp: Unknown interpolation "fancy"/],
      [mask('--cache-dir', path.join(work, 'afile')), /--cache-dir .*afile is a file, not a folder/],
      [batch('--gray', '300'), /--gray: Gray must be an integer from 0 to 255/],
      [batch('--concurrency', '0'), /--concurrency must be an integer from 1 to 64/],
      [batch('--out', path.join(work, 'afile', 'sub')), /Cannot use .*afile\/sub as the output folder: a file is in the way/],
      [batch('--dataset', '../x', '--layout', 'reference'), /--dataset must be a plain name/],
      [vlmBatch('--max-image-side', '0'), /--max-image-side must be an integer from 256 to 8192, got "0"/],
      [vlmBatch('--retries', '1e9'), /--retries must be an integer from 0 to 10, got "1e9"/],
      [vlmBatch('--retries=-1'), /--retries must be an integer from 0 to 10, got "-1"/],
      [vlmBatch('--timeout', '0'), /--timeout must be a number from 1 to 3600, got "0"/],
      [vlmBatch('--temperature', '3'), /--temperature must be a number from 0 to 2/],
      [vlmBatch('--vlm-base-url', 'notaurl'), /--vlm-base-url must be an http:\/\/ or https:\/\/ URL/],
      [vlmBatch('--vlm-base-url', 'file:///etc/passwd'), /--vlm-base-url must be an http:\/\/ or https:\/\/ URL with a host/],
      [['batch', path.join(work, 'null.jsonl'), '--no-vlm', '--out', path.join(work, 'out2'), '--model', missingModel, '--offline'], /null\.jsonl:2: expected an object/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args, work);
      assert.ok(r.status === 1 || r.status === 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+|unexpected error/, 'no stack trace');
    }
  });

  it('--layer -1 counts from the end, as --layer=-1 does; a UTF-8 BOM on JSONL line 1 is read', async () => {
    const model = fixtureModel('planted-clip');
    for (const layer of [['--layer', '-1'], ['--layer=-1']]) {
      const r = cli(['mask', image, 'red', '--model', model, '--offline', '--cache-dir', cache, '--json', ...layer], work);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).layer, 3, 'the last of the planted model\'s 4 layers');
    }
    fs.writeFileSync(path.join(work, 'bom.jsonl'), '\uFEFF{"id":"first","image":"a.png","question":"red"}\n');
    const r = cli(['batch', path.join(work, 'bom.jsonl'), '--no-vlm', '--out', path.join(work, 'bom-out'), '--model', model, '--offline', '--cache-dir', cache], work);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 done, 0 failed/);
  });
});

describe('mask never overwrites its input (CLI)', () => {
  const work = tempDir('ap-cli-overwrite-');
  const model = fixtureModel('planted-clip');
  const cache = path.join(work, 'cache');

  it('refuses --out or --heatmap on the input (also through a link) and one output on the other; says when it replaces a file', async () => {
    const image = path.join(work, 'photo.png');
    const original = await rectangleImage(60, 40, 'red', { left: 0, top: 0, width: 20, height: 20 });
    fs.writeFileSync(image, original);
    fs.linkSync(image, path.join(work, 'hardlink.png'));
    const run = (...extra: string[]) => cli(['mask', image, 'red', '--model', model, '--offline', '--cache-dir', cache, ...extra], work);
    const refused: Array<[string[], RegExp]> = [
      [['--out', image], /--out .*photo\.png is the input image/],
      [['--out', 'photo.png'], /--out photo\.png is the input image/],
      [['--out', 'hardlink.png'], /--out hardlink\.png is the input image/],
      [['--heatmap', image], /--heatmap .*photo\.png is the input image/],
      [['--out', 'x.png', '--heatmap', 'x.png'], /--out and --heatmap both name x\.png/],
    ];
    for (const [extra, message] of refused) {
      const r = run(...extra);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.deepEqual(fs.readFileSync(image), original, 'the input is untouched');
    }
    assert.equal(run().status, 0);
    const again = run();
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /replacing .*photo\.masked\.png/);
    assert.match(again.stderr, /replacing .*photo\.overlay\.png/);
  });
});

