/**
 * Transformers.js pointed at a model location: its global settings, its requests (through our hub
 * request, with the same token, redirect and size rules as our own downloads) and its options.
 */
import * as path from 'node:path';
import { AttentionPromptError } from './errors';
import type { TransformersModule } from './transformers';
import { sweepStaleTemps } from './downloadTemps';
import { brokenDownload, expectedSize, sizeProblem } from './hubAnswerCheck';
import { hubRequest, withheldTokenHint } from './hubRequest';
import { jsonProblem } from './modelFileCheck';
import { DownloadProgress, ModelLocation, hubBase } from './modelLocation';

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
