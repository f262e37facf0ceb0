/** The dtypes a model offers, with their file sizes: for the model picker. */
import * as fs from 'node:fs';
import { DOWNLOAD_STALL_MS, DTYPES, Dtype } from './defaults';
import { AttentionPromptError } from './errors';
import { expectedSize } from './hubAnswerCheck';
import { hubRequest } from './hubRequest';
import { modelFilePath } from './modelCache';
import { towerFile } from './modelFiles';
import { ModelLocation, hubBase, hubFileUrl } from './modelLocation';
import { describeLoadError } from './modelLoadError';

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
