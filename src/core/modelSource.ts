/**
 * Where a CLIP model comes from: a hub id (downloaded and cached through Transformers.js) or a
 * local folder in the Transformers.js layout. Resolves the files the engine needs and reports
 * download progress.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AttentionPromptError } from './errors';
import type { TransformersModule } from './transformers';

import { DEFAULT_MODEL, Dtype } from './defaults';

export const DTYPE_SUFFIX: Record<Dtype, string> = { fp32: '', fp16: '_fp16' };

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
  dtype?: Dtype;
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
  dtype: Dtype;
  cacheDir: string;
  offline: boolean;
  remoteHost?: string;
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || (process.platform === 'win32' ? process.env.LOCALAPPDATA : undefined) || path.join(os.homedir(), '.cache');
  return path.join(base || os.tmpdir(), 'attention-prompting', 'models');
}

const HUB_ID = /^[\w.-]+\/[\w.-]+$/;

export function requiredFiles(dtype: Dtype): string[] {
  const s = DTYPE_SUFFIX[dtype];
  return ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', `onnx/text_model${s}.onnx`, `onnx/vision_model${s}.onnx`];
}

export function locateModel(opts: ModelSourceOptions): ModelLocation {
  const cacheDir = path.resolve(opts.cacheDir ?? defaultCacheDir());
  if (cacheDir.split(path.sep).includes('node_modules')) {
    throw new AttentionPromptError('bad-parameter', `The model cache must not be inside node_modules (${cacheDir}); choose another folder.`);
  }
  const revision = opts.revision ?? 'main';
  const dtype = opts.dtype ?? 'fp32';
  if (!(dtype in DTYPE_SUFFIX)) throw new AttentionPromptError('bad-parameter', `Unknown dtype "${dtype}": use fp32 or fp16.`);
  const looksLikePath = path.isAbsolute(opts.model) || opts.model.startsWith('.') || fs.existsSync(opts.model);
  if (looksLikePath) {
    const dir = path.resolve(opts.model);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new AttentionPromptError('model-missing', `Model folder not found: ${dir}`);
    }
    for (const f of requiredFiles(dtype)) {
      if (!fs.existsSync(path.join(dir, f))) {
        throw new AttentionPromptError('model-missing', `The model folder ${dir} has no ${f} (expected the Transformers.js layout: config.json, tokenizer.json, onnx/…).`);
      }
    }
    return { name: opts.model, pretrainedId: dir, local: true, revision, dtype, cacheDir, offline: !!opts.offline };
  }
  if (!HUB_ID.test(opts.model)) {
    throw new AttentionPromptError('bad-parameter', `"${opts.model}" is neither a model folder nor a hub id like ${DEFAULT_MODEL}.`);
  }
  return { name: opts.model, pretrainedId: opts.model, local: false, revision, dtype, cacheDir, offline: !!opts.offline, remoteHost: opts.remoteHost };
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

/** In offline mode, names exactly which file is missing, before Transformers.js says less. */
export function checkOfflineFiles(loc: ModelLocation): void {
  if (loc.local || !loc.offline) return;
  for (const f of requiredFiles(loc.dtype)) {
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
 * Points Transformers.js's global `env` at this location. It is process-wide, so the engine
 * calls it before every load (one model loads at a time).
 */
export function configureTransformers(t: TransformersModule, loc: ModelLocation): void {
  t.env.cacheDir = loc.cacheDir;
  t.env.useFSCache = true;
  // Transformers.js refuses to run with both sources off, so offline hub ids read "local" files
  // from the cache folder itself (the cache is consulted first anyway; checkOfflineFiles has
  // already made sure every file is there).
  t.env.allowLocalModels = loc.local || loc.offline;
  t.env.localModelPath = loc.local ? '' : loc.cacheDir;
  t.env.allowRemoteModels = !loc.local && !loc.offline;
  t.env.remoteHost = loc.remoteHost ?? 'https://huggingface.co/';
}

/** Options common to every Transformers.js from_pretrained call for this location. */
export function pretrainedOptions(loc: ModelLocation, onProgress?: (p: DownloadProgress) => void) {
  return {
    cache_dir: loc.cacheDir,
    revision: loc.revision,
    progress_callback: onProgress
      ? (e: { status: string; file?: string; loaded?: number; total?: number; progress?: number }) => {
          if (e.file) onProgress({ status: e.status, file: e.file, loaded: e.loaded, total: e.total, progress: e.progress });
        }
      : undefined,
  };
}

/** Turns Transformers.js's download errors into ones that say what to do. */
export function describeLoadError(loc: ModelLocation, e: unknown): AttentionPromptError {
  if (e instanceof AttentionPromptError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (/404|not found|Could not locate file/i.test(msg)) {
    return new AttentionPromptError('download-failed', `${loc.name}: a model file was not found on the hub (${msg}). Check the model id and revision.`, { cause: e });
  }
  if (/local_files_only|allowRemoteModels=false/.test(msg)) {
    return new AttentionPromptError('offline-missing', `Offline mode: ${loc.name} is not cached (${msg}).`, { cause: e });
  }
  if (/fetch failed|ECONNREFUSED|ENOTFOUND|terminated|ECONNRESET|socket|network/i.test(msg)) {
    return new AttentionPromptError(
      'download-failed',
      `Could not download ${loc.name}: ${msg}. Check the network (or use --offline with a cached model); partial downloads are discarded, so retrying is safe.`,
      { cause: e },
    );
  }
  return new AttentionPromptError('download-failed', `Could not load ${loc.name}: ${msg}`, { cause: e });
}
