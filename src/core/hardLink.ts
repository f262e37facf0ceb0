/**
 * Hard links for the prepared graphs' weights, and what to do without them. NTFS, APFS and Linux
 * file systems have hard links, but not across volumes (a cache on another drive than the model),
 * nor FAT/exFAT, nor many network shares: there the caller falls back (a copy, or the original
 * file) and says so in one log line, since the fallback costs disk space or memory.
 */
import * as fs from 'node:fs';

/** What linking needs from the system; tests pass fakes that refuse as Windows and FAT do. */
export interface LinkOps {
  link: (existing: string, newPath: string) => Promise<void>;
  rename: (from: string, to: string) => Promise<void>;
  warn: (line: string) => void;
}

export const SYSTEM_LINK_OPS: LinkOps = {
  link: (existing, newPath) => fs.promises.link(existing, newPath),
  rename: (from, to) => fs.promises.rename(from, to),
  warn: (line) => console.warn(line),
};

/** Why a hard link could not be made, in a user's words. */
export function noLinkReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EXDEV':
      return 'EXDEV: the model cache is on another drive or volume than the model file';
    case 'EPERM':
    case 'ENOTSUP':
    case 'EOPNOTSUPP':
    case 'ENOSYS':
      return `${code}: this file system (FAT/exFAT, a network share) does not support hard links`;
    case 'EMLINK':
      return 'EMLINK: the file has as many links as its file system allows';
    default:
      return code ? `${code}: ${(e as Error).message}` : String((e as Error)?.message ?? e);
  }
}

/** The one log line for a fallback: what could not be linked, why, and what is done instead. */
export function warnNoLink(ops: LinkOps, source: string, dir: string, e: unknown, instead: string): void {
  ops.warn(`attention-prompting: could not hard-link ${source} into ${dir} (${noLinkReason(e)}); ${instead}.`);
}
