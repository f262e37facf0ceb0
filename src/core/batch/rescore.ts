/**
 * Scores in results.jsonl and the comparison in summary.json: `scoreRecord` scores one finished
 * item (the runner calls it before writing the line), `rescoreOutput` recomputes every score of an
 * output folder from the saved answers (`attention-prompt score OUT`; no request unless a judge
 * is given and a grade is missing), and `writeComparison` adds the comparison to summary.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AttentionPromptError } from '../errors';
import { writeAtomic, writeFileAtomicSync } from '../atomicWrite';
import { Comparison, ComparisonBuilder, SettingComparison } from './comparison';
import { GRADER_PROMPT_ID, GradeAsker, MM_VET_GRADER_PROMPT, grade } from './judge';
import type { ResultRecord } from './results';
import { readResultLines, setAsidePartialLine } from './resultLines';
import { AnswerScore, JUDGE_PASS, Metric, scoreAnswer } from './scoring';
import { OutputLock } from './outputLock';

export interface ScoreOptions {
  /** Grades open answers (those without choices) by the MM-Vet protocol; existing grades with the same prompt are kept. */
  judge?: GradeAsker;
  /**
   * Grades already asked for in this run, by item, question, accepted answers and prediction: in a sweep
   * the original image's answer is the same under every setting and is graded once.
   */
  gradeCache?: Map<string, Promise<NonNullable<AnswerScore['judge']>>>;
  signal?: AbortSignal;
}

function acceptedOf(r: ResultRecord): string[] {
  return (Array.isArray(r.answer) ? r.answer : r.answer !== undefined ? [r.answer] : []).filter((a) => a.trim() !== '');
}

/** Scores a record's answers against its ground truth, in place; returns the number of judge requests made. */
export async function scoreRecord(r: ResultRecord, opts: ScoreOptions = {}): Promise<number> {
  const accepted = acceptedOf(r);
  if (!accepted.length) {
    delete r.scores;
    return 0;
  }
  let requests = 0;
  const one = async (answer: string | undefined, previous: AnswerScore | undefined): Promise<AnswerScore | undefined> => {
    if (answer === undefined) return undefined;
    const s = scoreAnswer(answer, r)!;
    if (s.choice) return s;
    if (previous?.judge && previous.judge.prompt === GRADER_PROMPT_ID) s.judge = previous.judge;
    else if (opts.judge) {
      const before = Date.now();
      const key = JSON.stringify([r.id, r.question, accepted, answer]);
      let pending = opts.gradeCache?.get(key);
      if (!pending) {
        pending = grade(
          async (prompt, o) => {
            requests++;
            return opts.judge!(prompt, o);
          },
          r.question,
          accepted,
          answer,
          opts.signal,
        );
        opts.gradeCache?.set(key, pending);
        // A failed grade is not reused: the next record asks again.
        pending.catch(() => opts.gradeCache?.delete(key));
      }
      s.judge = await pending;
      r.timings = { ...r.timings, judge: (r.timings?.judge ?? 0) + (Date.now() - before) };
    }
    return s;
  };
  const masked = await one(r.maskedAnswer, r.scores?.masked);
  const original = await one(r.originalAnswer, r.scores?.original);
  r.scores = masked || original ? { masked, original } : undefined;
  return requests;
}

/** What summary.json gains: the comparison (or, for a sweep, one per setting, ranked) and the judge's prompt. */
export interface ScoreSummary {
  /** The score that decides "right" in the comparison. */
  metric?: Metric;
  comparison?: Comparison;
  sweep?: Array<SettingComparison & { categories: Comparison['categories']; unscored: number }>;
  judge?: { protocol: string; promptId: string; prompt: string; pass: number };
}

export function scoreSummary(builder: ComparisonBuilder, judged: boolean): ScoreSummary {
  const settings = builder.settings();
  return {
    metric: builder.metric,
    comparison: settings.length ? undefined : builder.comparison(),
    sweep: settings.length ? builder.bySetting() : undefined,
    judge: judged ? { protocol: 'MM-Vet (arXiv 2308.02490), github.com/yuweihao/MM-Vet mm-vet_evaluator.py', promptId: GRADER_PROMPT_ID, prompt: MM_VET_GRADER_PROMPT, pass: JUDGE_PASS } : undefined,
  };
}

/** Reads summary.json (if any), replaces its score fields, writes it back atomically; returns it. */
export function writeComparison<T extends object>(outDir: string, score: ScoreSummary, base?: T): T & ScoreSummary {
  const file = path.join(outDir, 'summary.json');
  const previous = base ?? (fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : ({} as T));
  const { metric: _m, comparison: _c, sweep: _s, judge: _j, ...rest } = previous as T & ScoreSummary;
  void _m, _c, _s, _j;
  const summary = { ...rest, ...score } as T & ScoreSummary;
  writeFileAtomicSync(file, JSON.stringify(summary, null, 2) + '\n');
  return summary;
}

export interface RescoreResult {
  records: number;
  scored: number;
  judgeRequests: number;
  /** summary.json as written: the run's summary with the score fields replaced. */
  summary: ScoreSummary & Record<string, unknown>;
  /** Where a crash's partial last line went (it is not a result, so the rewrite leaves it out); absent when there was none. */
  setAside?: string;
}

/**
 * Recomputes every score in OUT/results.jsonl from the saved answers and ground truth, rewrites
 * the file atomically and updates summary.json. A partial last line of a killed run is set aside
 * into PARTIAL_LINES_FILE, as --resume does; any other bad line stops it with nothing changed.
 */
export async function rescoreOutput(outDir: string, metric: Metric, opts: ScoreOptions = {}): Promise<RescoreResult> {
  // The rewrite would drop the lines a running batch appends meanwhile: one writer per folder.
  const lock = OutputLock.acquire(outDir);
  try {
    return await rescoreLocked(outDir, metric, opts);
  } finally {
    lock.release();
  }
}

async function rescoreLocked(outDir: string, metric: Metric, opts: ScoreOptions): Promise<RescoreResult> {
  const file = path.join(outDir, 'results.jsonl');
  if (!fs.existsSync(file)) throw new AttentionPromptError('bad-parameter', `${file} not found: give the --out folder of a batch run.`);
  const builder = new ComparisonBuilder(metric);
  let records = 0;
  let scored = 0;
  let judgeRequests = 0;
  let judged = false;
  let partial: string | undefined;
  let setAside: string | undefined;
  // A bad line is found before any judge request is paid for.
  if (opts.judge) for await (const _ of readResultLines(file)) void _;
  await writeAtomic(file, async (tmp) => {
    const out = fs.openSync(tmp, 'wx');
    try {
      for await (const { record: r } of readResultLines(file, { onPartial: (text) => (partial = text) })) {
        judgeRequests += await scoreRecord(r, opts);
        if (r.scores) scored++;
        if (r.scores?.masked?.judge || r.scores?.original?.judge) judged = true;
        builder.add(r);
        records++;
        fs.writeSync(out, JSON.stringify(r) + '\n');
      }
    } finally {
      fs.closeSync(out);
    }
    // Kept before the rewrite replaces the file: a crash in between duplicates the line, never loses it.
    if (partial !== undefined) setAside = setAsidePartialLine(file, partial);
  });
  const summary = writeComparison<Record<string, unknown>>(outDir, scoreSummary(builder, judged || !!opts.judge));
  return { records, scored, judgeRequests, summary, setAside };
}
