/** Shared test helpers: fixture paths, generated images, a seeded RNG. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';

/** The repository root: the nearest folder above this bundle holding package.json. */
export const ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
})();
export const FIXTURE_MODELS = path.join(ROOT, 'test', 'fixtures', 'models');
/**
 * The Python the tests ask oracles (Pillow, the fixture generators) with: Debian's, where present
 * (python3-pil is installed for the system Python; a pyenv shim first on PATH would not see it).
 */
export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
export const fixtureModel = (name: string) => path.join(FIXTURE_MODELS, name);

export function tempDir(prefix = 'ap-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Mulberry32: small, seeded, good enough for test geometry. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const COLOUR_RGB: Record<string, [number, number, number]> = {
  red: [255, 0, 0],
  green: [0, 255, 0],
  blue: [0, 0, 255],
  yellow: [255, 255, 0],
  white: [255, 255, 255],
  black: [0, 0, 0],
};

export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A gray image with one coloured rectangle, as PNG bytes. */
export async function rectangleImage(width: number, height: number, colour: string, region: Region, background = 128): Promise<Buffer> {
  const [r, g, b] = COLOUR_RGB[colour];
  const patch = await sharp({ create: { width: region.width, height: region.height, channels: 3, background: { r, g, b } } }).png().toBuffer();
  return sharp({ create: { width, height, channels: 3, background: { r: background, g: background, b: background } } })
    .composite([{ input: patch, left: region.left, top: region.top }])
    .png()
    .toBuffer();
}

export function inside(region: Region, x: number, y: number): boolean {
  return x >= region.left && x < region.left + region.width && y >= region.top && y < region.top + region.height;
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The rows report.html carries in its JSON data island (what its script draws). */
export function reportRows(html: string): import('../src/core/batch/reportData').ReportRow[] {
  const island = /<script type="application\/json" id="rows">([\s\S]*?)<\/script>/.exec(html);
  if (!island) throw new Error('report.html has no rows data island');
  return JSON.parse(island[1]);
}
