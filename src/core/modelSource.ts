/**
 * Where a CLIP model comes from: a hub id (downloaded and cached through Transformers.js) or a
 * local folder in the Transformers.js layout. Resolves the files the engine needs and reports
 * download progress.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AttentionPromptError } from './errors';
import type { TransformersModule } from './transformers';

import { tempPathFor } from './atomicWrite';
import { DEFAULT_MODEL, DOWNLOAD_STALL_MS, DTYPES, Dtype } from './defaults';
import { formatBytes } from './sizes';

export { DTYPES };
export type { Dtype };
export type Tower = 'vision' | 'text';
export interface TowerDtypes {
  vision: Dtype;
  text: Dtype;
}

export const DTYPE_SUFFIX: Record<Dtype, string> = { fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16', bnb4: '_bnb4' };

/** `onnx/vision_model_quantized.onnx` and the like. */
export function towerFile(tower: Tower, dtype: Dtype): string {
  return `onnx/${tower}_model${DTYPE_SUFFIX[dtype]}.onnx`;
}

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

function checkDtype(value: unknown, what: string): Dtype {
  if (!isDtype(value)) throw new AttentionPromptError('bad-parameter', `Unknown ${what} "${value}": use one of ${DTYPES.join(', ')}.`);
  return value;
}

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

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || (process.platform === 'win32' ? process.env.LOCALAPPDATA : undefined) || path.join(os.homedir(), '.cache');
  return path.join(base || os.tmpdir(), 'attention-prompting', 'models');
}

const HUB_ID = /^[\w.-]+\/[\w.-]+$/;

/** Each tower's dtype for a location. */
export function towerDtypes(loc: Pick<ModelLocation, 'dtype' | 'dtypes'>): TowerDtypes {
  return loc.dtypes ?? { vision: loc.dtype, text: loc.dtype };
}

export function requiredFiles(dtypes: TowerDtypes | Dtype): string[] {
  const d = typeof dtypes === 'string' ? { vision: dtypes, text: dtypes } : dtypes;
  return ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', towerFile('text', d.text), towerFile('vision', d.vision)];
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
  const revision = opts.revision ?? 'main';
  const dtype = checkDtype(opts.dtype ?? 'fp32', 'dtype');
  const dtypes: TowerDtypes = {
    vision: checkDtype(opts.visionDtype ?? dtype, 'vision dtype'),
    text: checkDtype(opts.textDtype ?? dtype, 'text dtype'),
  };
  const looksLikePath = path.isAbsolute(opts.model) || opts.model.startsWith('.') || fs.existsSync(opts.model);
  if (looksLikePath) {
    const dir = path.resolve(opts.model);
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
  if (!HUB_ID.test(opts.model)) {
    throw new AttentionPromptError('bad-parameter', `"${opts.model}" is neither a model folder nor a hub id like ${DEFAULT_MODEL}.`);
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
  t.env.remoteHost = hubBase(loc);
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

/** The hub a location downloads from: its own host (a test hub, HF_ENDPOINT's mirror) or Hugging Face's. */
function hubBase(loc: ModelLocation): string {
  return loc.remoteHost ?? 'https://huggingface.co/';
}

/** The hub URL of a file (Transformers.js's `{model}/resolve/{revision}/` template). */
export function hubFileUrl(loc: ModelLocation, file: string): string {
  const host = hubBase(loc).replace(/\/?$/, '/');
  return `${host}${loc.pretrainedId}/resolve/${encodeURIComponent(loc.revision)}/${file}`;
}

/**
 * Downloads one model file into the cache, at the path Transformers.js's file cache uses
 * (`cachedPath`), streaming to disk (no copy of the file in memory, no ONNX Runtime session), with
 * Transformers.js's progress events (initiate, download, progress with loaded/total/progress,
 * done). Written to a temporary name and renamed when complete, so an interrupted download
 * leaves nothing behind and a retry starts clean. Sends `HF_TOKEN` as Transformers.js does.
 */
export async function downloadModelFile(loc: ModelLocation, file: string, onProgress?: (p: DownloadProgress) => void, signal?: AbortSignal, stallMs = DOWNLOAD_STALL_MS): Promise<string> {
  const target = cachedPath(loc, file);
  if (fs.existsSync(target)) return target;
  if (loc.local || loc.offline) throw new AttentionPromptError('model-missing', `Missing ${file} (looked at ${target}).`);
  const url = hubFileUrl(loc, file);
  onProgress?.({ status: 'initiate', file });
  const tmp = tempPathFor(target);
  let out: fs.WriteStream | undefined;
  // Stopped when no byte arrives for stallMs: fetch has no such timeout, and a hub or proxy that
  // stops sending mid-file would leave the load waiting forever.
  const stall = new AbortController();
  let stallTimer: NodeJS.Timeout | undefined;
  const expectBytes = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => stall.abort(), stallMs);
  };
  let loaded = 0;
  let total: number | undefined;
  try {
    const headers: Record<string, string> = {};
    if (process.env.HF_TOKEN) headers.Authorization = `Bearer ${process.env.HF_TOKEN}`;
    expectBytes();
    const res = await fetch(url, { headers, signal: signal ? AbortSignal.any([signal, stall.signal]) : stall.signal });
    if (res.status === 404) {
      throw new AttentionPromptError('download-failed', `${loc.name}: ${file} was not found on the hub (404 at ${url}). Check the model id, revision and dtype.`);
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} for ${url}`);
    onProgress?.({ status: 'download', file });
    total = Number(res.headers.get('content-length')) || undefined;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    out = fs.createWriteStream(tmp);
    let lastReport = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      expectBytes();
      // once() rejects on the stream's 'error' (a full disk), where waiting for 'drain' alone would hang.
      if (!out.write(chunk)) await once(out, 'drain');
      loaded += chunk.length;
      const now = Date.now();
      if (onProgress && (now - lastReport > 100 || loaded === total)) {
        lastReport = now;
        onProgress({ status: 'progress', file, loaded, total: total ?? loaded, progress: total ? (loaded / total) * 100 : undefined });
      }
    }
    await new Promise<void>((resolve, reject) => out!.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (total !== undefined && loaded !== total) throw new Error(`terminated: received ${loaded} of ${total} bytes`);
    onProgress?.({ status: 'progress', file, loaded, total: loaded, progress: 100 });
    fs.renameSync(tmp, target);
    onProgress?.({ status: 'done', file });
    return target;
  } catch (e) {
    out?.destroy();
    fs.rmSync(tmp, { force: true });
    if (signal?.aborted) throw new AttentionPromptError('cancelled', 'Cancelled.');
    if (stall.signal.aborted) {
      const got = total ? `${formatBytes(loaded)} of ${formatBytes(total)}` : formatBytes(loaded);
      throw new AttentionPromptError(
        'download-failed',
        `Could not download ${loc.name}: ${file} stalled (no data for ${stallMs / 1000} s after ${got}) from ${hubBase(loc)}. Nothing partial was kept; retry, or check the network, proxy or HF_ENDPOINT.`,
      );
    }
    throw describeLoadError(loc, e);
  } finally {
    clearTimeout(stallTimer);
  }
}

export interface DtypeFiles {
  dtype: Dtype;
  /** Sizes in bytes; undefined where the model has no such file. */
  vision?: number;
  text?: number;
  /** True when both files are already on disk (folder or cache). */
  cached: boolean;
}

/**
 * Which dtypes a model offers, with the sizes of its vision and text files: from the disk for a
 * folder or cached files, else from the hub (HEAD requests; the hub reports the size of a
 * large-file pointer as `x-linked-size`). For the model picker.
 */
export async function availableDtypes(loc: ModelLocation, signal?: AbortSignal, timeoutMs = DOWNLOAD_STALL_MS): Promise<DtypeFiles[]> {
  // One clock for the whole lookup: fetch has no timeout, and a hub that never answers would
  // leave the model picker's "Looking up the files" waiting forever.
  const timeout = AbortSignal.timeout(timeoutMs);
  const stop = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const size = async (file: string): Promise<number | undefined> => {
    const p = modelFilePath(loc, file);
    if (fs.existsSync(p)) return fs.statSync(p).size;
    if (loc.local || loc.offline) return undefined;
    const headers: Record<string, string> = {};
    if (process.env.HF_TOKEN) headers.Authorization = `Bearer ${process.env.HF_TOKEN}`;
    try {
      const res = await fetch(hubFileUrl(loc, file), { method: 'HEAD', headers, signal: stop, redirect: 'follow' });
      if (!res.ok) return undefined;
      const n = Number(res.headers.get('x-linked-size') ?? res.headers.get('content-length'));
      return Number.isFinite(n) && n > 0 ? n : undefined;
    } catch (e) {
      if (signal?.aborted) throw new AttentionPromptError('cancelled', 'Cancelled.');
      if (timeout.aborted) {
        throw new AttentionPromptError('download-failed', `${hubBase(loc)} did not answer within ${timeoutMs / 1000} s when asked for the files of ${loc.name}; retry, or check the network, proxy or HF_ENDPOINT.`);
      }
      throw describeLoadError(loc, e);
    }
  };
  return Promise.all(
    DTYPES.map(async (dtype) => {
      const [vision, text] = await Promise.all([size(towerFile('vision', dtype)), size(towerFile('text', dtype))]);
      const cached = [towerFile('vision', dtype), towerFile('text', dtype)].every((f) => fs.existsSync(modelFilePath(loc, f)));
      return { dtype, vision, text, cached };
    }),
  );
}
