/**
 * Whether a path that a model (the agent tool's input) or a chat reference names is an image
 * inside the workspace. Decided on the string first, without touching the file system, so that a
 * refused path is never opened: on Windows even an existence check of \\host\share\x.png opens an
 * SMB connection and sends the user's NTLM hash. Only a path that passes is resolved to its real
 * path and checked again (a link inside the workspace may point out of it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasImageExtension } from '../core/defaults';
import { AttentionPromptError } from '../core/errors';

/** path.posix or path.win32: the checks are pure functions of strings, testable for both. */
export type PathFlavour = path.PlatformPath;

/** The file-system calls made after the string check (a seam for tests). */
export interface FileAccess {
  exists(p: string): boolean;
  realpath(p: string): Promise<string>;
  readable(p: string): Promise<void>;
  isFile(p: string): Promise<boolean>;
}

export const NODE_FILES: FileAccess = {
  exists: (p) => fs.existsSync(p),
  realpath: (p) => fs.promises.realpath(p),
  readable: (p) => fs.promises.access(p, fs.constants.R_OK),
  isFile: async (p) => (await fs.promises.stat(p)).isFile(),
};

/** vscode.l10n.t's shape; the default fills {0}… in English. */
export type Translate = (message: string, ...args: Array<string | number | boolean>) => string;
const english: Translate = (message, ...args) => message.replace(/\{(\d+)\}/g, (_, i: string) => String(args[Number(i)]));

export type Refusal = 'device-path' | 'drive-relative' | 'stream-or-device-name' | 'outside';

/** \\?\… and \\.\… (either slash): Win32 device paths, which skip the normalisation the string check relies on. */
const WIN_DEVICE_PATH = /^[\\/]{2}[?.][\\/]/;
/** C:x.png or \x.png: relative to a drive's current folder, which only the process knows. */
const WIN_DRIVE_RELATIVE = /^([a-z]:(?![\\/])|[\\/](?![\\/]))/i;
/** CON, NUL, COM1… name devices in any folder, whatever their extension (spaces before it ignored). */
const WIN_RESERVED_NAME = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³]) *(\..*)?$/i;

function windowsRefusal(input: string): Refusal | undefined {
  if (WIN_DEVICE_PATH.test(input)) return 'device-path';
  if (WIN_DRIVE_RELATIVE.test(input)) return 'drive-relative';
  const components = input.replace(/^[a-z]:/i, '').split(/[\\/]/);
  // A colon past the drive names an alternate data stream; Windows drops trailing dots and spaces,
  // so "x.png." would open another file than the one checked.
  const odd = components.some((c) => c.includes(':') || WIN_RESERVED_NAME.test(c.replace(/[. ]+$/, '')) || (c !== '.' && c !== '..' && /[. ]$/.test(c)));
  return odd ? 'stream-or-device-name' : undefined;
}

/** Whether `file` is `root` or below it (both absolute); case-insensitive where the flavour is. */
export function isInsideRoot(file: string, root: string, p: PathFlavour): boolean {
  const rel = p.relative(root, file);
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + p.sep) && !p.isAbsolute(rel));
}

/**
 * The absolute paths `input` may name inside the workspace folders `roots` (absolute): the input
 * itself when absolute, else the input under each folder; only those inside a folder. Pure.
 */
export function containedCandidates(input: string, roots: readonly string[], p: PathFlavour): { candidates: string[] } | { refused: Refusal } {
  const trimmed = input.trim();
  if (p.sep === '\\') {
    const refused = windowsRefusal(trimmed);
    if (refused) return { refused };
  }
  // Roots are absolute (and on Windows name a drive or share), so resolve never consults the cwd.
  const resolved = p.isAbsolute(trimmed) ? [p.resolve(trimmed)] : roots.map((r) => p.resolve(r, trimmed));
  const inside = resolved.filter((c, i) => resolved.indexOf(c) === i && roots.some((r) => isInsideRoot(c, r, p)));
  return inside.length ? { candidates: inside } : { refused: 'outside' };
}

function refusalMessage(refused: Refusal, input: string, t: Translate): string {
  switch (refused) {
    case 'device-path':
      return t('{0} is a Windows device path (\\\\?\\ or \\\\.\\); give a path relative to the workspace folder instead. Images are read from inside the workspace only.', input);
    case 'drive-relative':
      return t('{0} is relative to a drive rather than to the workspace; give a path relative to the workspace folder (for example "images/photo.png"). Images are read from inside the workspace only.', input);
    case 'stream-or-device-name':
      return t('{0} names a device, a data stream or a file Windows would rename (":", CON, NUL, COM1…, or a trailing dot or space); rename the file. Images are read from inside the workspace only.', input);
    case 'outside':
      return t('{0} is outside the workspace; move or copy the image into the workspace folder. Images are read from inside the workspace only.', input);
  }
}

const refuse = (message: string) => new AttentionPromptError('bad-parameter', message);

/**
 * The real path of the readable image file that `input` names inside the workspace folders
 * `roots`; throws an AttentionPromptError naming the input and what to do. For the agent tool and
 * the @attention participant alike.
 */
export async function workspaceImage(input: string, roots: readonly string[], options: { path?: PathFlavour; files?: FileAccess; t?: Translate } = {}): Promise<string> {
  const p = options.path ?? path;
  const files = options.files ?? NODE_FILES;
  const t = options.t ?? english;
  if (!roots.length) throw refuse(t('Open a folder first: images are read from inside the workspace only.'));
  const trimmed = input.trim();
  if (!trimmed) throw refuse(t('No image path given.'));
  const contained = containedCandidates(trimmed, roots, p);
  if ('refused' in contained) throw refuse(refusalMessage(contained.refused, trimmed, t));
  if (!hasImageExtension(trimmed)) throw new AttentionPromptError('unsupported-format', t('{0} is not an image this extension reads (PNG, JPEG, WebP, BMP, GIF, TIFF).', trimmed));
  // Only now the file system: every candidate is inside a workspace folder.
  const found = contained.candidates.find((c) => files.exists(c)) ?? contained.candidates[0];
  let real: string;
  try {
    real = await files.realpath(found);
    await files.readable(real);
  } catch {
    throw refuse(t('Cannot read {0}: no such file in the workspace, or not readable. Check the path (relative to the workspace folder).', trimmed));
  }
  const realRoots = await Promise.all(roots.map((r) => files.realpath(r).catch(() => r)));
  if (!realRoots.some((r) => isInsideRoot(real, r, p))) throw refuse(t('{0} links to a file outside the workspace; copy the image into the workspace instead. Images are read from inside the workspace only.', trimmed));
  if (!(await files.isFile(real))) throw refuse(t('{0} is not a file; name an image file.', trimmed));
  return real;
}
