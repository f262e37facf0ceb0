/** Pillow as the oracle: a Python snippet run on raw image bytes, its stdout the result's raw bytes. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PYTHON, tempDir } from './helpers';

/**
 * Runs `script` with `im` = Image.frombytes(mode, (width, height), bytes) and `a` = sys.argv, where
 * a[4], a[5], … are `args`; the script writes its result to sys.stdout.buffer.
 */
export function pillow(script: string, mode: 'L' | 'RGB', bytes: Uint8Array, width: number, height: number, ...args: Array<string | number>): Buffer {
  const file = path.join(tempDir('ap-pillow-'), 'in.raw');
  fs.writeFileSync(file, bytes);
  const prelude = `import sys; from PIL import Image; a = sys.argv; im = Image.frombytes("${mode}", (int(a[2]), int(a[3])), open(a[1], "rb").read())\n`;
  const r = spawnSync(PYTHON, ['-c', prelude + script, file, String(width), String(height), ...args.map(String)], { maxBuffer: 1 << 28 });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

/** PIL's Image.resize((outW, outH), filter) of the bytes. */
export const pilResize = (mode: 'L' | 'RGB', bytes: Uint8Array, inW: number, inH: number, outW: number, outH: number, filter: string) =>
  pillow('sys.stdout.buffer.write(im.resize((int(a[4]), int(a[5])), getattr(Image, a[6])).tobytes())', mode, bytes, inW, inH, outW, outH, filter);
