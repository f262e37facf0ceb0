/**
 * Where a CLIP model comes from: a hub id (downloaded and cached through Transformers.js) or a
 * local folder in the Transformers.js layout. Resolves the files the engine needs and reports
 * download progress.
 */
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AttentionPromptError } from './errors';
import type { TransformersModule } from './transformers';

import { tempPathFor } from './atomicWrite';
import { DEFAULT_MODEL, DOWNLOAD_STALL_MS, DTYPES, Dtype, MAX_REVISION_LENGTH } from './defaults';
import { sweepStaleTemps, trackTemp } from './downloadTemps';
import { HubResponse, hubRequest, withheldTokenHint } from './hubRequest';
import { jsonProblem, modelFileProblem } from './modelFileCheck';
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
  // Its config and tokenizer downloads go through our request: the same token rule, redirect
  // limit and checks as the model files.
  t.env.fetch = (url: string | URL, init?: { method?: string; headers?: HeadersInit; signal?: AbortSignal }) => fetchForTransformers(loc, String(url), init);
  // Every load passes here: the temp files of a download that was killed are removed.
  if (!loc.local) sweepStaleTemps(path.join(loc.cacheDir, loc.pretrainedId));
}

/**
 * A Transformers.js request: a whole .json file is read, its size and JSON checked, before
 * Transformers.js caches it (a junk page from a mirror or proxy would otherwise be reused forever).
 */
async function fetchForTransformers(loc: ModelLocation, url: string, init: { method?: string; headers?: HeadersInit; signal?: AbortSignal } = {}): Promise<Response> {
  const res = await hubRequest(url, hubBase(loc), init);
  const whole = (init.method ?? 'GET') === 'GET' && !new Headers(init.headers).has('range') && res.response.status === 200;
  if (res.response.status === 401 || res.response.status === 403) {
    throw new AttentionPromptError('download-failed', `${loc.name}: the hub refused ${url} (HTTP ${res.response.status}).${withheldTokenHint(res, hubBase(loc))}`);
  }
  if (!whole || !new URL(url).pathname.endsWith('.json')) return res.response;
  const body = Buffer.from(await res.response.arrayBuffer());
  const file = decodeURIComponent(new URL(url).pathname.replace(/^.*?\/resolve\/[^/]+\//, ''));
  const problem = sizeProblem(body.length, expectedSize(res)) ?? jsonProblem(body.toString('utf8'));
  if (problem) throw brokenDownload(loc, file, res.url, problem);
  const headers = new Headers(res.response.headers);
  headers.delete('content-encoding');
  headers.set('content-length', String(body.length));
  return new Response(body, { status: res.response.status, statusText: res.response.statusText, headers });
}

/** The size the hub announces for a file: its LFS size, else the body's length when the body is not re-encoded. */
function expectedSize(res: HubResponse): number | undefined {
  if (res.linkedSize !== undefined) return res.linkedSize;
  const encoding = res.response.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return undefined;
  const n = Number(res.response.headers.get('content-length') ?? NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function sizeProblem(received: number, expected: number | undefined): string | undefined {
  if (expected === undefined || received === expected) return undefined;
  return `received ${formatBytes(received)} (${received} bytes) where the hub announced ${formatBytes(expected)} (${expected} bytes)`;
}

function brokenDownload(loc: ModelLocation, file: string, url: string, problem: string): AttentionPromptError {
  return new AttentionPromptError(
    'download-failed',
    `${loc.name}: the hub sent a broken ${file} from ${url}: ${problem}. Nothing was cached; retry, and if it happens again check HF_ENDPOINT, the proxy or the hub's copy of the file.`,
  );
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
 * done). Written to a temporary name (removed on exit or Ctrl-C, swept by a later start if the
 * process was killed) and renamed only once its size matches the hub's (`x-linked-size`, else
 * `content-length`), its SHA-256 the hub's `x-linked-etag` where given, and it parses as what its
 * name says: a short, junk or oversized body never becomes the cache entry.
 */
export async function downloadModelFile(loc: ModelLocation, file: string, onProgress?: (p: DownloadProgress) => void, signal?: AbortSignal, stallMs = DOWNLOAD_STALL_MS): Promise<string> {
  const target = cachedPath(loc, file);
  if (fs.existsSync(target)) return target;
  if (loc.local || loc.offline) throw new AttentionPromptError('model-missing', `Missing ${file} (looked at ${target}).`);
  const url = hubFileUrl(loc, file);
  onProgress?.({ status: 'initiate', file });
  const tmp = tempPathFor(target);
  const tracked = trackTemp(tmp);
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
    expectBytes();
    const res = await hubRequest(url, hubBase(loc), { signal: signal ? AbortSignal.any([signal, stall.signal]) : stall.signal });
    const status = res.response.status;
    if (status === 404) {
      throw new AttentionPromptError('download-failed', `${loc.name}: ${file} was not found on the hub (404 at ${url}). Check the model id, revision and dtype.`);
    }
    if (status === 401 || status === 403) {
      throw new AttentionPromptError('download-failed', `${loc.name}: the hub refused ${file} (HTTP ${status} at ${url}); a gated or private model needs HF_TOKEN.${withheldTokenHint(res, hubBase(loc))}`);
    }
    if (!res.response.ok || !res.response.body) throw new Error(`HTTP ${status} for ${res.url}`);
    onProgress?.({ status: 'download', file });
    total = expectedSize(res);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    out = fs.createWriteStream(tmp);
    const hash = res.linkedSha256 ? crypto.createHash('sha256') : undefined;
    let lastReport = 0;
    for await (const chunk of res.response.body as unknown as AsyncIterable<Uint8Array>) {
      expectBytes();
      loaded += chunk.length;
      // Stop at the first byte past the announced size: an endless or oversized body never fills the disk.
      if (total !== undefined && loaded > total) throw brokenDownload(loc, file, res.url, `more than the ${formatBytes(total)} (${total} bytes) the hub announced`);
      hash?.update(chunk);
      // once() rejects on the stream's 'error' (a full disk), where waiting for 'drain' alone would hang.
      if (!out.write(chunk)) await once(out, 'drain');
      const now = Date.now();
      if (onProgress && (now - lastReport > 100 || loaded === total)) {
        lastReport = now;
        onProgress({ status: 'progress', file, loaded, total: total ?? loaded, progress: total ? (loaded / total) * 100 : undefined });
      }
    }
    await new Promise<void>((resolve, reject) => out!.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const problem =
      sizeProblem(loaded, total) ??
      (hash && hash.digest('hex') !== res.linkedSha256 ? `its SHA-256 is not the one the hub lists (${res.linkedSha256})` : undefined) ??
      modelFileProblem(tmp, file, true);
    if (problem) throw brokenDownload(loc, file, res.url, problem);
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
    tracked.done();
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
    try {
      const res = await hubRequest(hubFileUrl(loc, file), hubBase(loc), { method: 'HEAD', signal: stop });
      if (!res.response.ok) return undefined;
      const n = expectedSize(res);
      return n !== undefined && n > 0 ? n : undefined;
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
