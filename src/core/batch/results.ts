/**
 * results.jsonl: one complete JSON line per item, appended with a single write(2) on an O_APPEND
 * descriptor, so a crash can at worst leave one partial last line. Resuming sets that partial
 * line aside (resultLines.ts) and drops the lines of failed items (they are redone), rewrites the file atomically (temp +
 * rename), and reports the ids already answered so they are skipped. Each id ends up exactly once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomicSync } from '../atomicWrite';
import type { AnswerScore, GroundTruth } from './scoring';
import { resultKey } from './sweep';
import { readResultLines, setAsidePartialLine } from './resultLines';

export interface ResultRecord extends GroundTruth {
  id: string;
  image: string;
  question: string;
  hint?: string;
  parameters: { contrast: number; kernel: number; gray: number; interpolation: string; geometry: string };
  model: string;
  layer: number;
  endpointHost?: string;
  vlmModel?: string;
  maskedAnswer?: string;
  originalAnswer?: string;
  /** Why an answer is incomplete (connection dropped, length cap): what arrived is kept. */
  incomplete?: { masked?: string; original?: string };
  outputs?: { masked: string; overlay: string; reference?: string; thumbs?: { original: string; overlay: string; masked: string } };
  timings: Record<string, number>;
  /** Each answer scored against the item's ground truth (scoring.ts); absent without one. */
  scores?: { masked?: AnswerScore; original?: AnswerScore };
  /** A sweep's setting, e.g. "layer=20 contrast=3 kernel=1" (sweep.ts); absent outside sweeps. */
  setting?: string;
  /** Set when the item failed; the other answers may be missing. */
  error?: { stage: string; message: string };
  finishedAt: string;
}

export class ResultsLog {
  private fd: number;

  private constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'a');
  }

  /**
   * Opens (creating) results.jsonl. With `resume`, returns the ids (in a sweep: the sweep.ts
   * `resultKey`s of id and setting) that already have a successful line; without it, an existing non-empty file is an error (nothing is overwritten unasked).
   */
  static async open(outDir: string, resume: boolean): Promise<{ log: ResultsLog; done: Set<string>; dropped: number }> {
    const file = path.join(outDir, 'results.jsonl');
    const done = new Set<string>();
    let dropped = 0;
    if (fs.existsSync(file) && fs.statSync(file).size > 0) {
      if (!resume) {
        throw Object.assign(new Error(`${file} already has results. Use --resume to continue that run, or choose another --out folder.`), { code: 'output-exists' });
      }
      const kept: string[] = [];
      let partial: string | undefined;
      for await (const { record: rec, text } of readResultLines(file, { onPartial: (t) => (partial = t) })) {
        const key = resultKey(rec.id, rec.setting);
        if (rec.error || done.has(key)) {
          dropped++;
          continue;
        }
        done.add(key);
        kept.push(text);
      }
      if (partial !== undefined) {
        // The partial line of a killed run: kept beside the file, not lost.
        setAsidePartialLine(file, partial);
        dropped++;
      }
      if (dropped > 0) {
        // Safe only because the folder's lock keeps every other run out while this rewrites.
        writeFileAtomicSync(file, kept.length ? kept.join('\n') + '\n' : '');
      }
    }
    return { log: new ResultsLog(file), done, dropped };
  }

  append(record: ResultRecord): void {
    fs.writeSync(this.fd, JSON.stringify(record) + '\n');
  }

  close(): void {
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
  }
}

/** The one reader (resultLines.ts), here too for the modules that read results beside the log. */
export { readResults } from './resultLines';
