/**
 * `attention-prompt score OUT`: rescores a batch output from its saved answers (no VLM request),
 * rewrites summary.json and the report. `attention-prompt merge OUT… --out DIR`: merges shard
 * outputs into one.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Comparison, GroupComparison } from '../core/batch/comparison';
import { mergeOutputs } from '../core/batch/merge';
import { writeReport } from '../core/batch/report';
import { rescoreOutput, ScoreSummary } from '../core/batch/rescore';
import { parseMetric } from '../core/batch/scoring';
import type { BatchSummary } from '../core/batch/summaries';
import { UsageError } from './options';
import { terminalText } from './terminalText';

export const SCORE_USAGE = `Usage: attention-prompt score <out folder> [--metric exact|contains|judge]

Recomputes every score in <out folder>/results.jsonl from the saved answers and each item's
ground truth ("answer", "choices", "category"), then rewrites summary.json and report.html.
Sends nothing: judge grades already in the file are kept.

Options:
  --metric M   which score decides "right": exact (default), contains, judge (grade ≥ 0.5)`;

export const MERGE_USAGE = `Usage: attention-prompt merge <out folder>… --out <folder> [--metric exact|contains|judge]

Merges the outputs of shards (batch --shard i/n) into one results.jsonl, summary.json and
report.html. Each item appears once; different answers for the same item are reported as
conflicts (the first folder's answer is kept) and the exit code is 1. The folders must be of one
run: settings that differ (settings.json) or shards of different counts are refused; missing
shards or items are reported, and the exit code is 1.

Options:
  --allow-changed-settings   merge folders whose settings differ (listed in summary.json)`;

/** The report's header needs a run's summary; a folder without one (or a merge of such) gets none. */
const runSummary = (s: Record<string, unknown>) => (s.parameters ? (s as unknown as BatchSummary) : undefined);

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function line(label: string, g: GroupComparison): string {
  const t = g.table;
  return (
    `${label}: masked ${pct(g.masked.accuracy)} [${pct(g.masked.ci95[0])}, ${pct(g.masked.ci95[1])}] (${g.masked.right}/${g.masked.n}) · ` +
    `original ${pct(g.original.accuracy)} [${pct(g.original.ci95[0])}, ${pct(g.original.ci95[1])}] (${g.original.right}/${g.original.n}) · ` +
    `only masked right ${t.onlyMaskedRight}, only original right ${t.onlyOriginalRight} · McNemar p = ${t.mcnemarP.toPrecision(3)}`
  );
}

/** The comparison as terminal lines. */
export function describeScores(s: ScoreSummary): string {
  const out: string[] = [];
  const c: Comparison | undefined = s.comparison;
  if (c) {
    out.push(`${line('all', c.overall)}  (${c.metric}; ${c.interval}; ${c.test})`);
    for (const [k, g] of Object.entries(c.categories)) out.push(line(`  ${k}`, g));
    if (c.unscored) out.push(`${c.unscored} result(s) without a score (no ground truth, failed, or ungraded)`);
  }
  for (const r of s.sweep ?? []) out.push(line(`#${r.rank} ${r.setting}`, r));
  return out.join('\n') + (out.length ? '\n' : '');
}

export async function runScoreCommand(argv: string[], io = { out: process.stdout, err: process.stderr }): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { metric: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    io.out.write(SCORE_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected one output folder: attention-prompt score <out folder>');
  const metric = (() => {
    try {
      return parseMetric(values.metric);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  })();
  const outDir = path.resolve(positionals[0]);
  const r = await rescoreOutput(outDir, metric);
  const report = await writeReport(outDir, runSummary(r.summary));
  if (r.setAside) io.err.write(`the last line of results.jsonl was cut off (a crash mid-write); it is kept in ${r.setAside}\n`);
  io.out.write(`${r.scored} of ${r.records} results scored\n${describeScores(r.summary)}summary: ${path.join(outDir, 'summary.json')}\nreport:  ${report}\n`);
  return 0;
}

export async function runMergeCommand(argv: string[], io = { out: process.stdout, err: process.stderr }): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string' }, metric: { type: 'string' }, 'allow-changed-settings': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    io.out.write(MERGE_USAGE + '\n');
    return 0;
  }
  if (!positionals.length) throw new UsageError('expected the output folders to merge: attention-prompt merge <out folder>… --out <folder>');
  if (!values.out) throw new UsageError('merge needs --out <folder> for the merged results');
  let metric;
  try {
    metric = parseMetric(values.metric);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const outDir = path.resolve(values.out);
  const r = await mergeOutputs(positionals, outDir, metric, { allowChangedSettings: !!values['allow-changed-settings'] });
  const report = await writeReport(outDir, runSummary(r.summary));
  // Ids come from the result files (a dataset's own): printed as text only.
  for (const c of r.conflicts) io.err.write(terminalText(`conflict: ${c.id}${c.setting ? ` (${c.setting})` : ''} differs in ${c.fields.join(', ')} between ${c.folders.join(' and ')}; kept ${c.folders[0]}'s`) + '\n');
  io.out.write(
    `${r.records} items (${r.failed} failed) from ${positionals.length} folder(s); ${r.duplicates} duplicate line(s) dropped; ${r.conflicts.length} conflict(s)\n` +
      describeScores(r.summary) +
      `results: ${path.join(outDir, 'results.jsonl')}\nsummary: ${r.summaryFile}\nreport:  ${report}\n`,
  );
  const incomplete = r.missingShards.length > 0 || r.missing !== undefined;
  if (r.missingShards.length) io.err.write(`incomplete: no folder holds shard ${r.missingShards.join(', ')}; run those shards and merge again\n`);
  if (r.missing !== undefined) io.err.write(`incomplete: ${r.missing} item(s) the shards' summaries count are in no results.jsonl (rerun the shard with --resume)\n`);
  return r.conflicts.length || incomplete ? 1 : 0;
}
