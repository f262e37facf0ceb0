/**
 * The five platform VSIXes (scripts/package.mjs) each hold exactly their own platform's native
 * binaries, in a layout their loaders find; and the check fails on a VSIX with one binary missing,
 * from another platform, or of another architecture.
 *
 * Builds the five into a temp folder (about 80 s), or checks those in $AP_VSIX_DIR when set (the
 * release workflow points it at `npm run package:all`'s folder).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import TARGETS from '../../scripts/vsix-targets.json';
import { ROOT, tempDir } from '../helpers';
import { nativeBinaryProblems } from './checkVsix';
import { readNativeHeader } from './nativeHeader';
import { readZip, writeZip } from './zip';

const vsixFile = (dir: string, target: string) => path.join(dir, `attention-prompting-${target}.vsix`);
const ORT = 'extension/node_modules/onnxruntime-node/bin/napi-v6';
const SHARP = (target: string) => `extension/node_modules/@img/sharp-${target}/lib/sharp-${target}-`;
const entryStartingWith = (entries: Map<string, Buffer>, prefix: string) => {
  const name = [...entries.keys()].find((key) => key.startsWith(prefix));
  assert.ok(name, `no entry starting with ${prefix}`);
  return name;
};

describe('platform VSIXes', () => {
  let dir = process.env.AP_VSIX_DIR ?? '';
  const built = !dir;
  // One VSIX at a time in memory (each is 70-110 MB unpacked).
  const load = (target: string) => readZip(vsixFile(dir, target));

  before(() => {
    if (built) {
      dir = tempDir('ap-vsix-');
      // The tests' own build of dist/ is packaged as it is: these tests are about node_modules.
      const packaged = spawnSync(process.execPath, ['scripts/package.mjs', '--all', '--no-build', '--out', dir], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(packaged.status, 0, `scripts/package.mjs failed:\n${packaged.stdout}\n${packaged.stderr}`);
    }
  });
  after(() => {
    if (built) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const target of TARGETS) {
    it(`${target}: its own binaries only, each where its loader looks, with the libraries it needs`, async () => {
      const entries = await load(target);
      assert.deepEqual(nativeBinaryProblems(entries, target), []);
      // The check above is only as good as the headers it read: both addons must name their libraries.
      const [platform, arch] = target.split('-');
      const ortBinding = readNativeHeader(entries.get(`${ORT}/${platform}/${arch}/onnxruntime_binding.node`)!);
      assert.ok(ortBinding?.needed.some((name) => /onnxruntime/i.test(name)), `onnxruntime_binding.node needs: ${ortBinding?.needed}`);
      const sharpAddon = readNativeHeader(entries.get(entryStartingWith(entries, SHARP(target)))!);
      assert.ok(sharpAddon?.needed.some((name) => /vips/i.test(name)), `sharp's addon needs: ${sharpAddon?.needed}`);
      for (const other of TARGETS.filter((t) => t !== target)) {
        const [otherPlatform, otherArch] = other.split('-');
        const foreign = [...entries.keys()].filter(
          (name) => name.startsWith(`${ORT}/${otherPlatform}/${otherArch}/`) || name.includes(`/@img/sharp-${other}/`) || name.includes(`/@img/sharp-libvips-${other}/`),
        );
        assert.deepEqual(foreign, [], `${target} VSIX holds ${other} files`);
      }
    });
  }

  /** Writes the target's VSIX with `change` applied, and returns what the check says of the new file. */
  async function problemsAfter(target: string, change: (entries: Map<string, Buffer>) => void): Promise<string[]> {
    const entries = await load(target);
    change(entries);
    const file = path.join(tempDir('ap-vsix-swapped-'), `attention-prompting-${target}.vsix`);
    try {
      await writeZip(file, entries);
      return nativeBinaryProblems(await readZip(file), target);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  }

  it("fails on a binary of another platform: win32-x64's sharp addon swapped for linux-x64's", async () => {
    const linux = await load('linux-x64');
    const problems = await problemsAfter('win32-x64', (entries) => {
      entries.set(entryStartingWith(entries, SHARP('win32-x64')), linux.get(entryStartingWith(linux, SHARP('linux-x64')))!);
    });
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /sharp-win32-x64-.*\.node: elf binary in a win32-x64 VSIX/);
  });

  it("fails on the wrong architecture: win32-x64's onnxruntime_binding.node swapped for win32-arm64's", async () => {
    const arm64 = (await load('win32-arm64')).get(`${ORT}/win32/arm64/onnxruntime_binding.node`)!;
    const problems = await problemsAfter('win32-x64', (entries) => {
      entries.set(`${ORT}/win32/x64/onnxruntime_binding.node`, arm64);
    });
    assert.deepEqual(problems, [`${ORT}/win32/x64/onnxruntime_binding.node: machine 0xaa64, expected 0x8664 (x64)`]);
  });

  it('fails on the wrong architecture: linux-arm64 with linux-x64 libonnxruntime.so.1', async () => {
    const x64 = (await load('linux-x64')).get(`${ORT}/linux/x64/libonnxruntime.so.1`)!;
    const problems = await problemsAfter('linux-arm64', (entries) => {
      entries.set(`${ORT}/linux/arm64/libonnxruntime.so.1`, x64);
    });
    assert.deepEqual(problems, [`${ORT}/linux/arm64/libonnxruntime.so.1: machine 0x3e, expected 0xb7 (arm64)`]);
  });

  it('fails on a missing binary: the addon, or the library it needs', async () => {
    const noBinding = await problemsAfter('win32-x64', (entries) => entries.delete(`${ORT}/win32/x64/onnxruntime_binding.node`));
    assert.deepEqual(noBinding, [`missing ${ORT}/win32/x64/onnxruntime_binding.node`]);

    const noVips = await problemsAfter('win32-x64', (entries) => entries.delete('extension/node_modules/@img/sharp-win32-x64/lib/libvips-42.dll'));
    assert.ok(noVips.length > 0 && noVips.every((p) => /needs libvips-42\.dll, which is not at/.test(p)), noVips.join('\n'));

    // On macOS the addon finds libvips through an @rpath relative to itself: the libvips package must sit beside it.
    const noDylib = await problemsAfter('darwin-arm64', (entries) => {
      for (const name of [...entries.keys()]) if (name.includes('/@img/sharp-libvips-darwin-arm64/')) entries.delete(name);
    });
    assert.equal(noDylib.length, 1, noDylib.join('\n'));
    assert.match(noDylib[0], /sharp-darwin-arm64-.*\.node needs @rpath\/libvips-cpp\..*\.dylib, which is not at /);
  });
});
