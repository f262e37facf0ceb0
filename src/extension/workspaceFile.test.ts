import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers';
import { NODE_FILES, containedCandidates, workspaceImage, type FileAccess } from './workspaceFile';

const candidatesOf = (input: string, roots: string[], p: path.PlatformPath) => {
  const r = containedCandidates(input, roots, p);
  return 'candidates' in r ? r.candidates : undefined;
};

describe('workspace containment on the path string (no file system)', () => {
  it('Windows paths: UNC, device, drive-relative, other drives, .. escapes and reserved names are refused', () => {
    const roots = ['C:\\ws', '\\\\server\\share\\proj'];
    const refused = [
      '\\\\host\\share\\x.png',
      '//host/share/x.png',
      '\\/host\\share\\x.png',
      '\\\\?\\C:\\ws\\x.png',
      '\\\\.\\C:\\ws\\x.png',
      '//?/C:/ws/x.png',
      '//./C:/ws/x.png',
      '\\\\?\\UNC\\host\\share\\x.png',
      'C:x.png',
      'c:sub\\x.png',
      'D:x.png',
      'D:\\ws\\x.png',
      '\\x.png',
      '/ws/x.png',
      '..\\x.png',
      'sub\\..\\..\\x.png',
      'C:\\ws\\..\\x.png',
      'C:\\wsx\\a.png',
      '\\\\server\\share\\other\\x.png',
      '\\\\server\\share\\proj\\..\\x.png',
      'x.png:hidden.png',
      'C:\\ws\\x.png::$DATA',
      'COM1.png',
      'sub\\nul.png',
      'CON',
      'lpt1 .png',
      'x.png.',
      'sub \\x.png',
      'sub.\\x.png',
    ];
    for (const input of refused) assert.equal(candidatesOf(input, roots, path.win32), undefined, `${input} is refused`);
    const accepted: Array<[string, string[]]> = [
      ['x.png', ['C:\\ws\\x.png', '\\\\server\\share\\proj\\x.png']],
      ['sub/x.png', ['C:\\ws\\sub\\x.png', '\\\\server\\share\\proj\\sub\\x.png']],
      ['c:\\WS\\sub\\x.png', ['c:\\WS\\sub\\x.png']],
      ['C:/ws/sub/../x.png', ['C:\\ws\\x.png']],
      ['..x.png', ['C:\\ws\\..x.png', '\\\\server\\share\\proj\\..x.png']],
      ['\\\\server\\share\\proj\\a.png', ['\\\\server\\share\\proj\\a.png']],
      ['\\\\SERVER\\Share\\proj\\a.png', ['\\\\SERVER\\Share\\proj\\a.png']],
    ];
    for (const [input, expected] of accepted) assert.deepEqual(candidatesOf(input, roots, path.win32), expected, input);
  });

  it('POSIX paths: .. escapes, other folders and prefixes of the root are refused', () => {
    const roots = ['/ws', '/home/me/proj'];
    for (const input of ['../x.png', 'a/../../x.png', '/etc/x.png', '/wsx/a.png', '/ws/../x.png', '//host/share/x.png', '/home/me/projx/a.png']) {
      assert.equal(candidatesOf(input, roots, path.posix), undefined, `${input} is refused`);
    }
    assert.deepEqual(candidatesOf('a/x.png', roots, path.posix), ['/ws/a/x.png', '/home/me/proj/a/x.png']);
    assert.deepEqual(candidatesOf('/ws/a/./x.png', roots, path.posix), ['/ws/a/x.png']);
    assert.deepEqual(candidatesOf('..x.png', roots, path.posix), ['/ws/..x.png', '/home/me/proj/..x.png']);
    assert.deepEqual(candidatesOf('../proj/x.png', ['/home/me/ws', '/home/me/proj'], path.posix), ['/home/me/proj/x.png'], 'one folder may name a file in another');
  });

  it('touches no file before the string check passes (a UNC path would open a network connection)', async () => {
    const touched: string[] = [];
    const spy: FileAccess = {
      exists: (p) => (touched.push(p), false),
      realpath: async (p) => (touched.push(p), p),
      readable: async (p) => void touched.push(p),
      isFile: async (p) => (touched.push(p), true),
    };
    for (const input of ['\\\\host\\share\\x.png', '//host/share/x.png', '\\\\?\\C:\\ws\\x.png', 'C:x.png', 'D:\\x.png', '..\\x.png']) {
      await assert.rejects(workspaceImage(input, ['C:\\ws'], { path: path.win32, files: spy }), (e: Error) => e.message.includes(input.trim()) && /workspace/.test(e.message), input);
    }
    assert.deepEqual(touched, [], 'no file-system call');
  });
});

describe('workspace image on disk (real paths)', () => {
  const outside = tempDir('ap-ws-outside-');
  const ws = tempDir('ap-ws-');
  fs.writeFileSync(path.join(ws, 'in.png'), 'png');
  fs.writeFileSync(path.join(outside, 'secret.png'), 'png');
  fs.symlinkSync(path.join(outside, 'secret.png'), path.join(ws, 'link.png'));
  fs.symlinkSync(outside, path.join(ws, 'dirlink'));
  fs.mkdirSync(path.join(ws, 'folder.png'));

  it('returns the real path of an image inside the workspace, relative or absolute', async () => {
    assert.equal(await workspaceImage('in.png', [ws]), fs.realpathSync(path.join(ws, 'in.png')));
    assert.equal(await workspaceImage(path.join(ws, 'in.png'), [ws], { files: NODE_FILES }), fs.realpathSync(path.join(ws, 'in.png')));
  });

  it('refuses links that leave the workspace, missing files, folders and non-images, naming the path and what to do', async () => {
    const cases: Array<[string, RegExp]> = [
      ['link.png', /link\.png links to a file outside the workspace/],
      ['dirlink/secret.png', /dirlink\/secret\.png links to a file outside the workspace/],
      ['missing.png', /Cannot read missing\.png: no such file in the workspace/],
      ['folder.png', /folder\.png is not a file/],
      ['notes.txt', /notes\.txt is not an image .*PNG, JPEG/],
      [path.join(outside, 'secret.png'), /is outside the workspace; .*inside the workspace only/],
      ['   ', /No image path given/],
    ];
    for (const [input, message] of cases) await assert.rejects(workspaceImage(input, [ws]), message, input);
    await assert.rejects(workspaceImage('in.png', []), /Open a folder first/);
  });
});
