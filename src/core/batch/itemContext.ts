/** What every item of a run shares (its context), and the start of each item's result line. */
import type { AnswerProvider, AnswerResult } from '../answerProvider';
import { redactSecrets } from '../redact';
import type { BatchAskOptions, BatchOptions } from './batchOptions';
import type { BatchItem } from './inputs';
import type { GradeAsker } from './judge';
import type { MapSource } from './mapSource';
import type { ResultRecord } from './results';
import type { AnswerScore } from './scoring';
import type { Slots } from './slots';
import type { SweepSetting } from './sweep';
import type { Tally } from './tally';

/** What every item of a run shares. */
export interface RunContext {
  opts: BatchOptions;
  engine: MapSource;
  /** The block index every item of this run uses. */
  layer: number;
  answers?: AnswerProvider;
  ask?: BatchAskOptions;
  slots: Slots;
  parameters: ResultRecord['parameters'];
  /** The reference layout's folder, when asked for. */
  refDir?: string;
  thumbSize: number;
  tally: Tally;
  /** Ids (sweep.ts resultKeys) that already have a successful line (--resume): skipped. */
  answered: Set<string>;
  /** In a sweep: this context's setting, and the original image's answer shared by all settings of an item. */
  setting?: SweepSetting;
  originals?: Map<string, Promise<AnswerResult>>;
  /** Grades open answers (--judge), holding a VLM slot per request. */
  judge?: GradeAsker;
  /** Grades made in this run (rescore.ts), shared by the settings of a sweep. */
  gradeCache?: Map<string, Promise<NonNullable<AnswerScore['judge']>>>;
}

export type ItemRecord = Omit<ResultRecord, 'finishedAt'>;

export function baseRecord(ctx: RunContext, item: BatchItem, timings: Record<string, number>): ItemRecord {
  return {
    id: item.id,
    setting: ctx.setting?.key,
    image: item.image,
    question: item.question,
    hint: item.hint,
    answer: item.answer,
    choices: item.choices,
    category: item.category,
    parameters: ctx.parameters,
    model: ctx.engine.modelName,
    layer: ctx.layer,
    endpointHost: ctx.answers?.label.where,
    vlmModel: ctx.answers?.label.model,
    timings,
  };
}

export function failure(stage: string, e: unknown): ResultRecord['error'] {
  return { stage, message: redactSecrets((e as Error).message) };
}
