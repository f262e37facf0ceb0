/**
 * Secret redaction for every message that is stored or shown (results.jsonl, report.html, logs,
 * notifications). A server may echo the request's Authorization header or key in its error text;
 * nothing that looks like a credential may leave through our own output.
 *
 * Two layers: the exact keys this process holds (registered by whoever receives a key, e.g. the
 * VLM client), and patterns for credentials we were never told about (bearer tokens, well-known
 * key prefixes, `api_key=…`-style fields, JWTs).
 */

export const REDACTED = '[redacted]';

/**
 * Keys shorter than this are not replaced by value: local servers accept any text as a key
 * ("x", "none"), and replacing such words everywhere would garble messages without hiding a secret.
 */
const MIN_SECRET_LENGTH = 6;

const knownSecrets = new Set<string>();

/** Remembers a key held by this process so that `redactSecrets` removes it wherever it appears. */
export function rememberSecret(secret: string | undefined): void {
  if (secret && secret.length >= MIN_SECRET_LENGTH) knownSecrets.add(secret);
}

const PATTERNS: Array<[RegExp, string | ((substring: string, ...args: string[]) => string)]> = [
  // Authorization / Proxy-Authorization headers, any scheme, as text or as JSON fields.
  [/((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token|apikey)\s+)?[^\s"',;}\]]+/gi, (_m, prefix) => `${prefix}${REDACTED}`],
  [/\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}/gi, (_m, scheme) => `${scheme} ${REDACTED}`],
  // key=value / "key": "value" fields whose name says they hold a credential.
  [/((?:x-)?(?:api[-_ ]?key|access[-_]?token|auth[-_]?token|refresh[-_]?token|client[-_]?secret|secret[-_]?key|password|token)["']?\s*[:=]\s*["']?)[^\s"',;&}\]]{4,}/gi, (_m, prefix) => `${prefix}${REDACTED}`],
  // Well-known key shapes: OpenAI/Anthropic/OpenRouter (sk-…), Hugging Face, GitHub, Google, Slack, AWS, JWTs.
  [/\bsk-[A-Za-z0-9_-]{12,}/g, REDACTED],
  [/\bhf_[A-Za-z0-9]{20,}/g, REDACTED],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, REDACTED],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/g, REDACTED],
  [/\bAIza[0-9A-Za-z_-]{30,}/g, REDACTED],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, REDACTED],
  [/\bAKIA[0-9A-Z]{16}\b/g, REDACTED],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, REDACTED],
];

/**
 * Removes the keys this process holds and anything that looks like a credential. Use it on every
 * error message or server-provided text before it is stored (results, reports) or shown (logs, UI).
 */
export function redactSecrets(text: string): string {
  let out = text;
  // Longest first, so a key that contains another is removed whole.
  for (const secret of [...knownSecrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join(REDACTED);
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement as never);
  return out;
}

/**
 * Redacts one known secret from text that arrives in pieces (a streamed answer), so that a key split
 * across two pieces is still caught: the tail that could be the start of the key is held back until
 * the next piece (or `flush`) decides. Pieces out concatenate to the redacted whole.
 */
export class StreamRedactor {
  private pending = '';

  constructor(private readonly secret: string | undefined) {
    if (!secret || secret.length < MIN_SECRET_LENGTH) this.secret = undefined;
  }

  /** Returns the part of the text so far that is safe to show. */
  push(piece: string): string {
    if (!this.secret) return piece;
    const text = this.pending + piece;
    // No occurrence can straddle the cut: the kept tail is the longest suffix that is a proper prefix of the key.
    let hold = 0;
    for (let k = Math.min(this.secret.length - 1, text.length); k > 0; k--) {
      if (text.endsWith(this.secret.slice(0, k))) {
        hold = k;
        break;
      }
    }
    this.pending = text.slice(text.length - hold);
    return text.slice(0, text.length - hold).split(this.secret).join(REDACTED);
  }

  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}
