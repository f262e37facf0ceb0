/**
 * Does masking help? From scored results: accuracy of the masked and of the original answers
 * (Wilson 95% intervals), the paired table with the exact McNemar p-value, the same per
 * category, and for sweeps the same per setting, ranked.
 */
import type { ResultRecord } from './results';
import { AnswerScore, JUDGE_PASS, Metric, isRight } from './scoring';
import { Accuracy, PairedTable, accuracy, pairedTable } from './statistics';

export interface GroupComparison {
  /** Items with a verdict on both answers (the paired table's total). */
  paired: number;
  masked: Accuracy;
  original: Accuracy;
  table: PairedTable;
  /** Mean judge grade (MM-Vet's score, 0–1) where grades exist. */
  judgeMean?: { masked?: number; original?: number };
}

export interface Comparison {
  metric: Metric;
  /** How to read the figures: which interval, which test. */
  interval: 'Wilson score interval, 95%';
  test: 'exact McNemar test, two-sided (binomial on the discordant pairs)';
  judgePass?: number;
  overall: GroupComparison;
  categories: Record<string, GroupComparison>;
  /** Results without ground truth, failed, or (judge metric) ungraded. */
  unscored: number;
}

export interface SettingComparison extends GroupComparison {
  setting: string;
  rank: number;
}

/** A tally that grows one record at a time, so a 20,000-item run is summarised in one pass. */
class Tally {
  maskedRight = 0;
  maskedN = 0;
  originalRight = 0;
  originalN = 0;
  both = [0, 0, 0, 0]; // bothRight, onlyMasked, onlyOriginal, bothWrong
  judge = { masked: 0, maskedN: 0, original: 0, originalN: 0 };

  add(m: boolean | undefined, o: boolean | undefined, ms?: AnswerScore, os?: AnswerScore): void {
    if (m !== undefined) {
      this.maskedN++;
      if (m) this.maskedRight++;
    }
    if (o !== undefined) {
      this.originalN++;
      if (o) this.originalRight++;
    }
    if (m !== undefined && o !== undefined) this.both[m ? (o ? 0 : 1) : o ? 2 : 3]++;
    if (ms?.judge) {
      this.judge.masked += ms.judge.score;
      this.judge.maskedN++;
    }
    if (os?.judge) {
      this.judge.original += os.judge.score;
      this.judge.originalN++;
    }
  }

  result(): GroupComparison {
    const [a, b, c, d] = this.both;
    const j = this.judge;
    return {
      paired: a + b + c + d,
      masked: accuracy(this.maskedRight, this.maskedN),
      original: accuracy(this.originalRight, this.originalN),
      table: pairedTable(a, b, c, d),
      judgeMean: j.maskedN || j.originalN ? { masked: j.maskedN ? j.masked / j.maskedN : undefined, original: j.originalN ? j.original / j.originalN : undefined } : undefined,
    };
  }
}

/** Which way an item went: for the report's "masked wrong, original right" filters. */
export type Outcome = 'both-right' | 'only-masked' | 'only-original' | 'both-wrong' | 'unscored';

export function outcome(r: Pick<ResultRecord, 'scores' | 'error'>, metric: Metric): Outcome {
  if (r.error) return 'unscored';
  const m = isRight(r.scores?.masked, metric);
  const o = isRight(r.scores?.original, metric);
  if (m === undefined || o === undefined) return 'unscored';
  return m ? (o ? 'both-right' : 'only-masked') : o ? 'only-original' : 'both-wrong';
}

/** Accumulates records; `comparison()` and `bySetting()` read the totals. */
export class ComparisonBuilder {
  /** Per sweep setting ("" outside sweeps): the overall tally and one per category. */
  private groups = new Map<string, { overall: Tally; categories: Map<string, Tally>; unscored: number }>();

  constructor(readonly metric: Metric) {}

  private group(setting: string) {
    let g = this.groups.get(setting);
    if (!g) this.groups.set(setting, (g = { overall: new Tally(), categories: new Map(), unscored: 0 }));
    return g;
  }

  add(r: Pick<ResultRecord, 'scores' | 'error' | 'category' | 'setting'>): void {
    const g = this.group(r.setting ?? '');
    const ms = r.error ? undefined : r.scores?.masked;
    const os = r.error ? undefined : r.scores?.original;
    const m = isRight(ms, this.metric);
    const o = isRight(os, this.metric);
    if (m === undefined && o === undefined) {
      g.unscored++;
      return;
    }
    g.overall.add(m, o, ms, os);
    if (r.category !== undefined) {
      let t = g.categories.get(r.category);
      if (!t) g.categories.set(r.category, (t = new Tally()));
      t.add(m, o, ms, os);
    }
  }

  /** The comparison of one sweep setting, or of the whole run ("" outside sweeps). */
  comparison(setting = ''): Comparison {
    const g = this.groups.get(setting) ?? { overall: new Tally(), categories: new Map<string, Tally>(), unscored: 0 };
    return {
      metric: this.metric,
      interval: 'Wilson score interval, 95%',
      test: 'exact McNemar test, two-sided (binomial on the discordant pairs)',
      judgePass: this.metric === 'judge' ? JUDGE_PASS : undefined,
      overall: g.overall.result(),
      categories: Object.fromEntries([...g.categories].sort(([a], [b]) => a.localeCompare(b)).map(([k, t]) => [k, t.result()])),
      unscored: g.unscored,
    };
  }

  /** The sweep settings seen ("" excluded). */
  settings(): string[] {
    return [...this.groups.keys()].filter((k) => k !== '');
  }

  /** Sweep settings ranked by masked accuracy, ties broken by the lower interval bound, then by name. */
  bySetting(): Array<SettingComparison & { categories: Comparison['categories']; unscored: number }> {
    const rows = this.settings().map((setting) => {
      const c = this.comparison(setting);
      return { setting, ...c.overall, categories: c.categories, unscored: c.unscored };
    });
    rows.sort((a, b) => b.masked.accuracy - a.masked.accuracy || b.masked.ci95[0] - a.masked.ci95[0] || a.setting.localeCompare(b.setting));
    return rows.map((r, i) => ({ ...r, rank: i + 1 }));
  }
}
