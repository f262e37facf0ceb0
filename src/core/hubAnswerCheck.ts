/**
 * Whether what the hub sent is the file it announced: the size it announces, a body of that size,
 * and the error that names a broken one.
 */
import { AttentionPromptError } from './errors';
import type { HubResponse } from './hubRequest';
import type { ModelLocation } from './modelLocation';
import { formatBytes } from './sizes';

/** The size the hub announces for a file: its LFS size, else the body's length when the body is not re-encoded. */
export function expectedSize(res: HubResponse): number | undefined {
  if (res.linkedSize !== undefined) return res.linkedSize;
  const encoding = res.response.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return undefined;
  const n = Number(res.response.headers.get('content-length') ?? NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export function sizeProblem(received: number, expected: number | undefined): string | undefined {
  if (expected === undefined || received === expected) return undefined;
  return `received ${formatBytes(received)} (${received} bytes) where the hub announced ${formatBytes(expected)} (${expected} bytes)`;
}

export function brokenDownload(loc: ModelLocation, file: string, url: string, problem: string): AttentionPromptError {
  return new AttentionPromptError(
    'download-failed',
    `${loc.name}: the hub sent a broken ${file} from ${url}: ${problem}. Nothing was cached; retry, and if it happens again check HF_ENDPOINT, the proxy or the hub's copy of the file.`,
  );
}
