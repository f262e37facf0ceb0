/**
 * Where a CLIP model comes from: a hub id (downloaded and cached through Transformers.js) or a
 * local folder in the Transformers.js layout. Turns what the user wrote into a checked location,
 * and names the hub and the URL each file is fetched from.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AttentionPromptError } from './errors';
import { DEFAULT_MODEL, Dtype, MAX_REVISION_LENGTH } from './defaults';
import { defaultCacheDir } from './modelCache';
import { TowerDtypes, checkDtype, requiredFiles } from './modelFiles';

export interface DownloadProgress {
  /** Transformers.js status: initiate, download, progress, done. */
  status: string;
  file: string;
  loaded?: number;
  total?: number;
  /** Percent, 0–100. */
  progress?: number;
}

export interface ModelSourceOptions {
  /** Hub id (`owner/name`) or a local folder. */
  model: string;
  revision?: string;
  /** Weights of both towers (default fp32); `visionDtype` / `textDtype` override one tower. */
  dtype?: Dtype;
  visionDtype?: Dtype;
  textDtype?: Dtype;
  /** Where downloads are cached; never inside node_modules. */
  cacheDir?: string;
  /** Never touch the network. */
  offline?: boolean;
  /** Hub base URL (default https://huggingface.co/); tests point it at a loopback server. */
  remoteHost?: string;
  onProgress?: (p: DownloadProgress) => void;
}

export interface ModelLocation {
  /** The id or folder, as given. */
  name: string;
  /** What Transformers.js is given: the hub id, or the folder's absolute path. */
  pretrainedId: string;
  local: boolean;
  revision: string;
  /** The dtype asked for; `dtypes` when the towers differ (see `towerDtypes`). */
  dtype: Dtype;
  dtypes?: TowerDtypes;
  cacheDir: string;
  offline: boolean;
  remoteHost?: string;
}

/** `owner/name`, each part starting with a letter, digit or underscore (no `.`/`..` parts). */
const HUB_ID = /^\w[\w.-]*\/\w[\w.-]*$/;

/**
 * Written as a path (`./`, `../`, `/`, `\`, `~`, a drive letter): a folder even when it also reads
 * as `owner/name`. Anything else that reads as `owner/name` is a hub id, so a folder of that name
 * in the working directory can never stand in for a hub model.
 */
function writtenAsPath(model: string): boolean {
  return path.isAbsolute(model) || /^(\.{1,2}(?:[\\/]|$)|[\\/]|~(?:[\\/]|$)|[A-Za-z]:[\\/])/.test(model);
}

function expandHome(model: string): string {
  return /^~(?:[\\/]|$)/.test(model) ? path.join(os.homedir(), model.slice(1)) : model;
}

/**
 * A hub revision: a branch, tag (`main`, `v1.0`, `refs/pr/1`) or commit hash. It names a folder
 * in the cache, so nothing that could leave it (`..`, an absolute path, a backslash) gets through.
 */
export function checkRevision(revision: string): string {
  const parts = revision.split('/');
  const ok =
    revision.length > 0 &&
    revision.length <= MAX_REVISION_LENGTH &&
    /^[A-Za-z0-9._\/-]+$/.test(revision) &&
    !revision.includes('..') &&
    parts.every((p) => p !== '' && !p.startsWith('.') && !p.startsWith('-') && !p.endsWith('.lock'));
  if (!ok) {
    throw new AttentionPromptError(
      'bad-parameter',
      `Revision "${revision}" is not a branch, tag or commit: use a name like main, v1.0 or refs/pr/1, or a 40-character commit hash (letters, digits, "." "_" "-" "/", at most ${MAX_REVISION_LENGTH} characters; no "..", no leading "/" or ".").`,
    );
  }
  return revision;
}

/**
 * Where the model is, its files checked: a folder must hold `files` (default: CLIP's), and an
 * offline hub id must have them cached. `layout` names the expected layout in the error.
 */
export function locateModel(opts: ModelSourceOptions, files?: string[], layout = 'the Transformers.js layout: config.json, tokenizer.json, onnx/…'): ModelLocation {
  const cacheDir = path.resolve(opts.cacheDir ?? defaultCacheDir());
  if (cacheDir.split(path.sep).includes('node_modules')) {
    throw new AttentionPromptError('bad-parameter', `The model cache must not be inside node_modules (${cacheDir}); choose another folder.`);
  }
  const revision = checkRevision(opts.revision ?? 'main');
  const dtype = checkDtype(opts.dtype ?? 'fp32', 'dtype');
  const dtypes: TowerDtypes = {
    vision: checkDtype(opts.visionDtype ?? dtype, 'vision dtype'),
    text: checkDtype(opts.textDtype ?? dtype, 'text dtype'),
  };
  const hubId = !writtenAsPath(opts.model) && HUB_ID.test(opts.model) && !opts.model.includes('..');
  if (!hubId && (writtenAsPath(opts.model) || fs.existsSync(opts.model))) {
    const dir = path.resolve(expandHome(opts.model));
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new AttentionPromptError('model-missing', `Model folder not found: ${dir}`);
    }
    for (const f of files ?? requiredFiles(dtypes)) {
      if (!fs.existsSync(path.join(dir, f))) {
        throw new AttentionPromptError('model-missing', `The model folder ${dir} has no ${f} (expected ${layout}).`);
      }
    }
    return { name: opts.model, pretrainedId: dir, local: true, revision, dtype, dtypes, cacheDir, offline: !!opts.offline };
  }
  if (!hubId) {
    throw new AttentionPromptError('bad-parameter', `"${opts.model}" is neither a model folder nor a hub id like ${DEFAULT_MODEL} (write a folder as ./name or an absolute path).`);
  }
  return { name: opts.model, pretrainedId: opts.model, local: false, revision, dtype, dtypes, cacheDir, offline: !!opts.offline, remoteHost: opts.remoteHost ?? hubFromEnvironment() };
}

/**
 * The hub base URL that `HF_ENDPOINT` names (a mirror, as the Hugging Face tools read it), with a
 * trailing slash; undefined when unset. Read here, where every caller locates its model (the CLI,
 * the extension host's model picker, the engine process), so none of them can miss it.
 */
export function hubFromEnvironment(): string | undefined {
  const endpoint = process.env.HF_ENDPOINT?.trim();
  return endpoint ? endpoint.replace(/\/?$/, '/') : undefined;
}

/** The hub a location downloads from: its own host (a test hub, HF_ENDPOINT's mirror) or Hugging Face's. */
export function hubBase(loc: ModelLocation): string {
  return loc.remoteHost ?? 'https://huggingface.co/';
}

/** The hub URL of a file (Transformers.js's `{model}/resolve/{revision}/` template). */
export function hubFileUrl(loc: ModelLocation, file: string): string {
  const host = hubBase(loc).replace(/\/?$/, '/');
  return `${host}${loc.pretrainedId}/resolve/${encodeURIComponent(loc.revision)}/${file}`;
}
