/**
 * The one reader of results.jsonl (resume, score, merge, report, the extension's row clicks). Lines
 * are appended with one write(2) each, so a crash can leave at most one partial *last* line: that
 * line is reported (`onPartial`), never silently lost — the rewriters keep it in PARTIAL_LINES_FILE.
 * Any other line that is not a result is an error naming the file and line: nothing is rewritten
 * past it, so a hand-edit gone wrong (a stray comma) cannot cost the results after it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { AttentionPromptError } from '../errors';
import type { ResultRecord } from './results';

/** Beside results.jsonl: the partial last lines that resume and score set aside (appended, never replaced). */
export const PARTIAL_LINES_FILE = 'results.partial.jsonl';

export interface ResultLine {
  record: ResultRecord;
  /** The line as it is in the file, for writers that keep it unchanged. */
  text: string;
  /** 1-based. */
  lineNumber: number;
}

export interface ReadOptions {
  /** Called once, at the end, with a partial last line (a crash mid-write) that was not yielded. */
  onPartial?: (text: string, lineNumber: number) => void;
}

/** Why `text` is not a result line, or undefined with the record when it is one. */
function parseLine(text: string): { record: ResultRecord } | { why: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { why: (e as Error).message };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { why: 'not a JSON object' };
  if (typeof (value as { id?: unknown }).id !== 'string') return { why: 'it has no "id" text' };
  return { record: value as ResultRecord };
}

export async function* readResultLines(file: string, opts: ReadOptions = {}): AsyncGenerator<ResultLine> {
  if (!fs.existsSync(file)) return;
  const rl = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  // A bad line is held until the next line shows it was not the last one.
  let pending: { text: string; lineNumber: number; why: string } | undefined;
  let lineNumber = 0;
  for await (const text of rl) {
    lineNumber++;
    if (!text.trim()) continue;
    if (pending) throw badLine(file, pending.lineNumber, pending.why);
    const parsed = parseLine(text);
    if ('why' in parsed) pending = { text, lineNumber, why: parsed.why };
    else yield { record: parsed.record, text, lineNumber };
  }
  if (pending) opts.onPartial?.(pending.text, pending.lineNumber);
}

/** The records of results.jsonl; a partial last line is skipped (the rewriters set it aside). */
export async function* readResults(file: string, opts: ReadOptions = {}): AsyncGenerator<ResultRecord> {
  for await (const line of readResultLines(file, opts)) yield line.record;
}

/** Keeps a partial last line of `resultsFile` in PARTIAL_LINES_FILE beside it; returns that file. */
export function setAsidePartialLine(resultsFile: string, text: string): string {
  const side = path.join(path.dirname(resultsFile), PARTIAL_LINES_FILE);
  fs.appendFileSync(side, text + '\n');
  return side;
}

function badLine(file: string, lineNumber: number, why: string): AttentionPromptError {
  return new AttentionPromptError(
    'bad-parameter',
    `${file} line ${lineNumber} is not a result line (${why}). Only a crash's partial last line can be set aside; fix or remove line ${lineNumber} and run again. Nothing was changed.`,
  );
}
