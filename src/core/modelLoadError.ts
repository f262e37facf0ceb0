/** The error a failed model download or load becomes: one that says what to do. */
import { AttentionPromptError } from './errors';
import type { ModelLocation } from './modelLocation';

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
