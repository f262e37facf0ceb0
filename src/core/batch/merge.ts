/**
 * `attention-prompt merge OUT… --out DIR`: the output folders of shards (or of any runs over the
 * same items) become one results.jsonl, summary.json and report. Each (id, setting) appears once:
 * a success wins over a failure; two different successful answers are a conflict — the first
 * folder's line is kept and the conflict is reported. Masks, overlays and thumbnails are linked
 * (hard links; copies across file systems) into DIR, so the report works there. Only parts of
 * one run merge (mergeChecks.ts), missing shards and items are reported, and DIR is locked as a
 * batch run locks it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AttentionPromptError } from '../errors';
import { writeAtomic } from '../atomicWrite';
import { ComparisonBuilder } from './comparison';
import { readResults, type ResultRecord } from './results';
import { ScoreSummary, scoreSummary, writeComparison } from './rescore';
import { Metric } from './scoring';
import { isInside } from './inputs';
import { MergePlan, planMerge } from './mergeChecks';
import { OutputLock } from './outputLock';
import { writeRunSettings } from './runSettings';

export interface MergeConflict {
  id: string;
  setting?: string;
  /** The folders holding different answers; the first one's line was kept. */
  folders: string[];
  fields: string[];
}

export interface MergeResult {
  records: number;
  /** Shards of the run no folder holds ("2/4"). */
  missingShards: string[];
  /** Items the shards' summaries count that no folder answered; absent when the summaries do not say. */
  missing?: number;
  failed: number;
  duplicates: number;
  conflicts: MergeConflict[];
  summaryFile: string;
}

/** The fields that must agree for two lines of the same item to be the same result. */
const COMPARED: Array<keyof ResultRecord> = ['image', 'question', 'hint', 'model', 'layer', 'parameters', 'vlmModel', 'maskedAnswer', 'originalAnswer', 'answer', 'choices', 'category'];

function differences(a: ResultRecord, b: ResultRecord): string[] {
  return COMPARED.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

function linkOrCopy(from: string, to: string): void {
  if (!fs.existsSync(from) || path.resolve(from) === path.resolve(to)) return;
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.rmSync(to, { force: true });
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
}

function outputFiles(r: ResultRecord): string[] {
  const o = r.outputs;
  if (!o) return [];
  return [o.masked, o.overlay, o.reference, o.thumbs?.original, o.thumbs?.overlay, o.thumbs?.masked].filter((f): f is string => !!f);
}

/** Orders ids as people number files: "item2" before "item10". */
const byIdThenSetting = (a: ResultRecord, b: ResultRecord) =>
  a.id.localeCompare(b.id, 'en', { numeric: true }) || (a.setting ?? '').localeCompare(b.setting ?? '', 'en', { numeric: true });

export interface MergeOptions {
  /** Merge folders whose settings differ (the differences are kept in summary.json's changedSettings). */
  allowChangedSettings?: boolean;
}

type Merged = MergeResult & { summary: ScoreSummary & Record<string, unknown> };

export async function mergeOutputs(folders: string[], outDir: string, metric: Metric, opts: MergeOptions = {}): Promise<Merged> {
  if (folders.length < 1) throw new AttentionPromptError('bad-parameter', 'merge: give at least one output folder.');
  for (const f of folders) {
    if (!fs.existsSync(path.join(f, 'results.jsonl'))) throw new AttentionPromptError('bad-parameter', `merge: ${path.join(f, 'results.jsonl')} not found (is ${f} the --out folder of a batch run?).`);
  }
  const plan = planMerge(folders, !!opts.allowChangedSettings);
  fs.mkdirSync(outDir, { recursive: true });
  // The same lock as batch and score: a run still appending to DIR would otherwise lose every line the rewrite did not see.
  const lock = OutputLock.acquire(outDir);
  try {
    return await mergeLocked(folders, outDir, metric, plan);
  } finally {
    lock.release();
  }
}

async function mergeLocked(folders: string[], outDir: string, metric: Metric, plan: MergePlan): Promise<Merged> {
  const target = path.join(outDir, 'results.jsonl');
  if (fs.existsSync(target) && fs.statSync(target).size > 0 && !folders.some((f) => path.resolve(f) === path.resolve(outDir))) {
    throw new AttentionPromptError('bad-parameter', `${target} already has results: merge into an empty folder.`);
  }

  const kept = new Map<string, { record: ResultRecord; folder: string }>();
  const conflicts = new Map<string, MergeConflict>();
  let duplicates = 0;
  for (const folder of folders) {
    for await (const r of readResults(path.join(folder, 'results.jsonl'))) {
      const key = `${r.id}\u0000${r.setting ?? ''}`;
      const prev = kept.get(key);
      if (!prev || (prev.record.error && !r.error)) {
        kept.set(key, { record: r, folder });
        continue;
      }
      if (r.error) continue; // a failure never replaces anything
      const fields = differences(prev.record, r);
      if (!fields.length) {
        duplicates++;
        continue;
      }
      const c = conflicts.get(key) ?? { id: r.id, setting: r.setting, folders: [prev.folder], fields: [] };
      if (!c.folders.includes(folder)) c.folders.push(folder);
      c.fields = [...new Set([...c.fields, ...fields])];
      conflicts.set(key, c);
    }
  }

  const records = [...kept.values()].sort((a, b) => byIdThenSetting(a.record, b.record));
  const builder = new ComparisonBuilder(metric);
  let failed = 0;
  let judged = false;
  await writeAtomic(target, async (tmp) => {
    const fd = fs.openSync(tmp, 'wx');
    try {
      for (const { record, folder } of records) {
        // Paths read back from a results file are not trusted: only files inside the shard's folder,
        // written inside the merged one (a crafted "../" would otherwise overwrite anything).
        for (const rel of outputFiles(record)) {
          const from = path.resolve(folder, rel);
          const to = path.resolve(outDir, rel);
          if (isInside(path.resolve(folder), from) && isInside(path.resolve(outDir), to)) linkOrCopy(from, to);
        }
        if (record.error) failed++;
        if (record.scores?.masked?.judge || record.scores?.original?.judge) judged = true;
        builder.add(record);
        fs.writeSync(fd, JSON.stringify(record) + '\n');
      }
    } finally {
      fs.closeSync(fd);
    }
  });

  // The first folder's summary describes the run (model, parameters, endpoint); counts are the merged ones.
  const first = path.join(folders[0], 'summary.json');
  const base = fs.existsSync(first) ? (JSON.parse(fs.readFileSync(first, 'utf8')) as Record<string, unknown>) : {};
  const shardSummaries = folders.map((f) => {
    const s = path.join(f, 'summary.json');
    return fs.existsSync(s) ? (JSON.parse(fs.readFileSync(s, 'utf8')) as { elapsedMs?: number; shard?: unknown; mergedFrom?: unknown }) : {};
  });
  const conflictList = [...conflicts.values()];
  const missing = plan.expectedTotal !== undefined && plan.expectedTotal > records.length ? plan.expectedTotal - records.length : undefined;
  const merged: Record<string, unknown> = {
    ...base,
    outDir,
    total: Math.max(records.length, plan.expectedTotal ?? 0),
    done: records.length - failed,
    failed,
    skipped: 0,
    interrupted: false,
    shard: undefined,
    // An earlier merge among the folders is listed by its parts, so merging again still knows which shards it holds.
    mergedFrom: folders.flatMap((f, i) => {
      const earlier = shardSummaries[i].mergedFrom;
      return Array.isArray(earlier) && earlier.length ? earlier : [{ folder: path.resolve(f), shard: shardSummaries[i].shard }];
    }),
    conflicts: conflictList,
    duplicates,
    complete: !plan.missingShards.length && !missing,
    missingShards: plan.missingShards.length ? plan.missingShards : undefined,
    missing,
    shardTotals: plan.shardTotals,
    changedSettings: plan.changedSettings.length ? plan.changedSettings : undefined,
  };
  // The merged folder is one run of those settings (no longer one shard), so it merges again with the rest.
  if (plan.settings) writeRunSettings(outDir, plan.settings);
  const summary = writeComparison(outDir, scoreSummary(builder, judged), merged);
  return { records: records.length, missingShards: plan.missingShards, missing, failed, duplicates, conflicts: conflictList, summaryFile: path.join(outDir, 'summary.json'), summary };
}
