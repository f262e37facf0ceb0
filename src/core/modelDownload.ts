/** One model file downloaded into the cache, streamed, checked, and only then given its name. */
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AttentionPromptError } from './errors';
import { tempPathFor } from './atomicWrite';
import { DOWNLOAD_STALL_MS } from './defaults';
import { trackTemp } from './downloadTemps';
import { brokenDownload, expectedSize, sizeProblem } from './hubAnswerCheck';
import { hubRequest, withheldTokenHint } from './hubRequest';
import { cachedPath } from './modelCache';
import { modelFileProblem } from './modelFileCheck';
import { DownloadProgress, ModelLocation, hubBase, hubFileUrl } from './modelLocation';
import { describeLoadError } from './modelLoadError';
import { formatBytes } from './sizes';
import { replaceFileSync } from './replaceFile';

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
    replaceFileSync(tmp, target);
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
