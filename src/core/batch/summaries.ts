/** The end of a run: summary.json (counts, rate, settings) and the comparison of the answers in it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ComparisonBuilder } from './comparison';
import type { RunContext } from './itemContext';
import { ScoreSummary, scoreSummary, writeComparison } from './rescore';
import { ResultRecord, readResults } from './results';
import type { Metric } from './scoring';
import { shardLabel } from './shards';
import type { SweepAxes } from './sweep';

export interface BatchSummary {
  input: string;
  outDir: string;
  total: number;
  done: number;
  failed: number;
  skipped: number;
  interrupted: boolean;
  elapsedMs: number;
  /** Of `elapsedMs`, the time spent loading models. */
  loadMs: number;
  /** Items finished per second of processing (elapsed time less model loads). */
  imagesPerSecond: number;
  model: string;
  layer: number;
  parameters: ResultRecord['parameters'];
  endpointHost?: string;
  vlmModel?: string;
  startedAt: string;
  finishedAt: string;
  shard?: string;
  /** The swept axes; each setting's comparison is in `sweep` (ScoreSummary). */
  sweepAxes?: SweepAxes;
}

/** The comparison of masked and original answers (or of every sweep setting), into summary.json. */
export async function writeScores(outDir: string, metric: Metric, summary: BatchSummary): Promise<BatchSummary & ScoreSummary> {
  const builder = new ComparisonBuilder(metric);
  let judged = false;
  for await (const r of readResults(path.join(outDir, 'results.jsonl'))) {
    builder.add(r);
    if (r.scores?.masked?.judge || r.scores?.original?.judge) judged = true;
  }
  return writeComparison(outDir, scoreSummary(builder, judged), summary);
}

export function writeSummary(ctx: RunContext, startedAt: Date, t0: number): BatchSummary {
  const { opts, engine, tally } = ctx;
  const end = performance.now();
  const summary: BatchSummary = {
    input: opts.input,
    outDir: opts.outDir,
    total: tally.total,
    done: tally.done,
    failed: tally.failed,
    skipped: tally.skipped,
    interrupted: !!opts.signal?.aborted,
    elapsedMs: end - t0,
    loadMs: tally.loadMs,
    imagesPerSecond: tally.rate(end),
    model: engine.modelName,
    layer: ctx.layer,
    parameters: ctx.parameters,
    endpointHost: ctx.answers?.label.where,
    vlmModel: ctx.answers?.label.model,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    shard: opts.shard ? shardLabel(opts.shard) : undefined,
    sweepAxes: opts.sweep,
  };
  fs.writeFileSync(path.join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}
