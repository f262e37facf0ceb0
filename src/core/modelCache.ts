/**
 * The model cache on disk: where it is, where each hub file lies in it (Transformers.js's
 * FileCache layout), and what is missing or broken there.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AttentionPromptError } from './errors';
import type { ModelLocation } from './modelLocation';
import { requiredFiles, towerDtypes } from './modelFiles';
import { modelFileProblem } from './modelFileCheck';

/** What the default cache location depends on; tests pass other platforms'. */
export interface CacheHome {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  homedir: string;
  tmpdir: string;
  exists: (dir: string) => boolean;
}

const SYSTEM_CACHE_HOME = (): CacheHome => ({ platform: process.platform, env: process.env, homedir: os.homedir(), tmpdir: os.tmpdir(), exists: fs.existsSync });

const CACHE_SUBDIR = ['attention-prompting', 'models'];

/**
 * The CLI's model cache (the extension uses its global storage): $XDG_CACHE_HOME where set (and
 * absolute, as the XDG spec requires) on any platform; else the platform's cache folder —
 * %LOCALAPPDATA% on Windows (never the roaming profile), ~/Library/Caches on macOS (left out of
 * Time Machine backups), ~/.cache elsewhere. A macOS cache already in ~/.cache, where earlier
 * versions put it, stays in use rather than being downloaded again.
 */
export function defaultCacheDir(home: CacheHome = SYSTEM_CACHE_HOME()): string {
  const p = home.platform === 'win32' ? path.win32 : path.posix;
  const absolute = (dir: string | undefined) => (dir && p.isAbsolute(dir) ? dir : undefined);
  const under = (base: string) => p.join(base, ...CACHE_SUBDIR);
  const xdg = absolute(home.env.XDG_CACHE_HOME);
  if (xdg) return under(xdg);
  const user = absolute(home.homedir);
  if (home.platform === 'win32') {
    const local = absolute(home.env.LOCALAPPDATA) ?? (user && p.join(user, 'AppData', 'Local'));
    return under(local ?? home.tmpdir);
  }
  if (!user) return under(home.tmpdir);
  if (home.platform === 'darwin') {
    const earlier = under(p.join(user, '.cache'));
    return home.exists(earlier) ? earlier : under(p.join(user, 'Library', 'Caches'));
  }
  return under(p.join(user, '.cache'));
}

/** Where Transformers.js's file cache keeps a hub file (its FileCache layout). */
export function cachedPath(loc: ModelLocation, file: string): string {
  return loc.revision === 'main'
    ? path.join(loc.cacheDir, loc.pretrainedId, file)
    : path.join(loc.cacheDir, loc.pretrainedId, loc.revision, file);
}

/** The on-disk path of a model file (the folder's, or the cache's for a hub id). */
export function modelFilePath(loc: ModelLocation, file: string): string {
  return loc.local ? path.join(loc.pretrainedId, file) : cachedPath(loc, file);
}

/** Whether the model's files (default: CLIP's, in its dtypes) are all on disk: a folder's always are (locateModel checked them). */
export function isFullyCached(loc: ModelLocation, files?: string[]): boolean {
  return loc.local || (files ?? requiredFiles(towerDtypes(loc))).every((f) => fs.existsSync(cachedPath(loc, f)));
}

/** In offline mode, names exactly which file is missing, before Transformers.js says less. */
export function checkOfflineFiles(loc: ModelLocation, files?: string[]): void {
  if (loc.local || !loc.offline) return;
  for (const f of files ?? requiredFiles(towerDtypes(loc))) {
    const p = cachedPath(loc, f);
    if (!fs.existsSync(p)) {
      throw new AttentionPromptError(
        'offline-missing',
        `Offline mode: ${loc.name}${loc.revision === 'main' ? '' : '@' + loc.revision} is not fully cached — missing ${f} (looked at ${p}). Run once without --offline to download it.`,
      );
    }
  }
}


/**
 * Cached files of a hub model that no longer read (cut short, junk, not what their name says) are
 * removed, once per load, with a line on stderr, so the load downloads them again instead of
 * failing on every run. Offline, where nothing can be downloaded, the error names the cure.
 */
export function dropBrokenCacheEntries(loc: ModelLocation, files?: string[]): void {
  if (loc.local) return;
  for (const f of files ?? requiredFiles(towerDtypes(loc))) {
    const p = cachedPath(loc, f);
    if (!fs.existsSync(p)) continue;
    const problem = modelFileProblem(p, f, false);
    if (!problem) continue;
    if (loc.offline) {
      throw new AttentionPromptError('offline-missing', `Offline mode: the cached ${f} of ${loc.name} is broken (${p}: ${problem}). Run once without --offline to download it again.`);
    }
    fs.rmSync(p, { force: true });
    console.warn(`attention-prompting: the cached ${f} of ${loc.name} was broken (${problem}); removed ${p}, downloading it again.`);
  }
}
