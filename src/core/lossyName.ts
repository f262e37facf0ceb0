/**
 * File names that are not UTF-8. On Linux a name is any bytes; Node.js (process.argv, VS Code's
 * URIs, readdir without `encoding: 'buffer'`) hands them on as strings with each invalid byte
 * replaced by U+FFFD, and a path so spelled names no file. The folder's listing, read as bytes,
 * tells which entry the spelling stands for: that entry's byte path opens the file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPLACEMENT = '\uFFFD';

export interface LossyLookup {
  /** The file's path as bytes, when exactly one entry matches. */
  path?: Buffer;
  /** Why the name could not be resolved, when it holds a replaced byte. */
  why?: string;
}

/** The byte path a U+FFFD-spelled `name` stands for; nothing for a name that is simply missing. */
export async function resolveLossyName(name: string): Promise<LossyLookup> {
  const base = path.basename(name);
  if (!name.includes(REPLACEMENT)) return {};
  if (!base.includes(REPLACEMENT)) {
    return { why: 'a folder in its path has a name that is not valid UTF-8 (shown as �), which cannot be opened from its text form: rename that folder' };
  }
  let entries: Buffer[];
  try {
    entries = await fs.promises.readdir(path.dirname(name), { encoding: 'buffer' });
  } catch {
    return {};
  }
  const matches = entries.filter((e) => e.toString('utf8') === base);
  if (matches.length === 1) return { path: Buffer.concat([Buffer.from(path.dirname(name) + path.sep), matches[0]]) };
  if (matches.length > 1) {
    return { why: `its name is not valid UTF-8 (shown as �) and ${matches.length} files in that folder read the same way: rename the one you mean to a UTF-8 name` };
  }
  return {};
}
