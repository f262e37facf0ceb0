/**
 * What report.html carries for its script: one compact row per result line (in a JSON data
 * island, read once). No Node or browser imports: both sides use this type. (What the report
 * sends to VS Code is in shared/protocol.ts, ReportHostVocabulary.)
 */
import type { Outcome } from './comparison';

export interface ReportRow {
  id: string;
  /** The sweep setting ("layer=20 contrast=3"); absent outside sweeps. */
  setting?: string;
  /** The image's file name, for display. */
  file: string;
  question: string;
  hint?: string;
  category?: string;
  masked?: string;
  original?: string;
  /** Right (1) or wrong (0) under the summary's metric; absent when unscored. */
  maskedRight?: 0 | 1;
  originalRight?: 0 | 1;
  /** Why an answer stopped early (what arrived is shown). */
  maskedIncomplete?: string;
  originalIncomplete?: string;
  outcome: Outcome;
  error?: string;
  /** Total milliseconds over the item's stages. */
  ms: number;
  /** Thumbnail sources (original, overlay, masked): data URLs in small reports, paths relative to the report in large ones. */
  thumbs?: [string, string, string];
}
