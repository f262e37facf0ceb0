/**
 * One request for a hub file. Redirects are followed here, by hand, so that a loop is reported
 * with its URLs (fetch says only "fetch failed"), the hub's `x-linked-size` / `x-linked-etag`
 * (sent on its redirect to the file store) are kept, and HF_TOKEN is decided again at every hop:
 * it goes to Hugging Face's own hosts, or to a custom HF_ENDPOINT only when the user opts in.
 */
import { HF_TOKEN_HOSTS, MAX_HUB_REDIRECTS, SEND_HF_TOKEN_ENV } from './defaults';
import { AttentionPromptError } from './errors';

/** The user's hub token (HF_ACCESS_TOKEN is the older name Transformers.js still reads). */
export function hfToken(): string | undefined {
  return process.env.HF_TOKEN || process.env.HF_ACCESS_TOKEN || undefined;
}

/** Whether the token may be sent to `url`: Hugging Face's own hosts, or the configured hub's origin when opted in. */
export function tokenAllowed(url: URL, hubBase: string): boolean {
  if (url.protocol === 'https:' && (HF_TOKEN_HOSTS as readonly string[]).includes(url.hostname)) return true;
  return process.env[SEND_HF_TOKEN_ENV] === '1' && url.origin === new URL(hubBase).origin;
}

export interface HubResponse {
  response: Response;
  /** The URL that answered, after redirects. */
  url: string;
  /** The hub's size of a large (LFS) file, from any hop. */
  linkedSize?: number;
  /** The hub's SHA-256 of a large file (its `x-linked-etag`), from any hop. */
  linkedSha256?: string;
  /** True when HF_TOKEN is set but was not sent to the hub itself (a custom endpoint without the opt-in). */
  tokenWithheld: boolean;
}

function positiveInteger(value: string | null): number | undefined {
  const n = value === null ? NaN : Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function sha256Of(etag: string | null): string | undefined {
  const m = /^(?:W\/)?"?([0-9a-f]{64})"?$/i.exec(etag?.trim() ?? '');
  return m?.[1].toLowerCase();
}

/** GET (or HEAD) `url`, following up to MAX_HUB_REDIRECTS redirects. */
export async function hubRequest(url: string, hubBase: string, init: { method?: string; headers?: HeadersInit; signal?: AbortSignal } = {}): Promise<HubResponse> {
  const token = hfToken();
  const visited: string[] = [];
  let current = url;
  let linkedSize: number | undefined;
  let linkedSha256: string | undefined;
  let tokenWithheld = false;
  for (;;) {
    const headers = new Headers(init.headers);
    headers.delete('authorization');
    if (token) {
      if (tokenAllowed(new URL(current), hubBase)) headers.set('Authorization', `Bearer ${token}`);
      else if (visited.length === 0) tokenWithheld = true;
    }
    const response = await fetch(current, { method: init.method, headers, signal: init.signal, redirect: 'manual' });
    linkedSize ??= positiveInteger(response.headers.get('x-linked-size'));
    linkedSha256 ??= sha256Of(response.headers.get('x-linked-etag'));
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) return { response, url: current, linkedSize, linkedSha256, tokenWithheld };
    await response.body?.cancel();
    visited.push(current);
    current = new URL(location, current).toString();
    if (visited.length > MAX_HUB_REDIRECTS) throw new AttentionPromptError('download-failed', tooManyRedirects(url, visited, current));
  }
}

function tooManyRedirects(first: string, visited: string[], next: string): string {
  const hosts = [...new Set([...visited, next].map((u) => new URL(u).host))];
  const looping = visited.includes(next) ? `; it loops back to ${next}` : '';
  return (
    `Too many redirects (more than ${MAX_HUB_REDIRECTS}) fetching ${first}, through ${hosts.join(', ')}${looping}. ` +
    'The hub or a proxy in between is redirecting in a loop: check HF_ENDPOINT (it must be the hub\'s base URL) or the proxy, then retry.'
  );
}

/** The hint added to a 401/403 when the token was held back from a custom endpoint. */
export function withheldTokenHint(res: HubResponse, hubBase: string): string {
  if (!res.tokenWithheld || (res.response.status !== 401 && res.response.status !== 403)) return '';
  return ` HF_TOKEN was not sent to ${new URL(hubBase).host}: it goes only to ${HF_TOKEN_HOSTS.join(' and ')} unless you set ${SEND_HF_TOKEN_ENV}=1 to trust this endpoint with it.`;
}
