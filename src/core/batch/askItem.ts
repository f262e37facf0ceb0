/**
 * Asking the run's answer provider about one item: the masked image and (when comparing) the
 * original, each request holding a slot; the original's answer is shared by a sweep's settings.
 */
import * as path from 'node:path';
import type sharp from 'sharp';
import type { AnswerImage, AnswerProvider, AnswerResult } from '../answerProvider';
import { untilAborted } from '../errors';
import { DecodedImage, fromDecoded } from '../image';
import { imagePayload } from '../vlmImage';
import type { BatchAskOptions } from './batchOptions';
import type { BatchItem } from './inputs';
import { ItemRecord, RunContext, failure } from './itemContext';
import { readResults } from './results';

/**
 * Asks the provider about the masked image (and the original, when comparing), each request
 * holding one of the run's slots. Undefined when the run was interrupted: nothing is recorded,
 * so the item is redone on --resume.
 */
export async function askAbout(ctx: RunContext, answers: AnswerProvider, ask: BatchAskOptions, item: BatchItem, image: DecodedImage, maskedPng: sharp.Sharp, rec: ItemRecord): Promise<ItemRecord | undefined> {
  const signal = ctx.opts.signal;
  let masked: AnswerImage;
  let original: AnswerImage | undefined;
  try {
    masked = await imagePayload(maskedPng, { maxSide: ask.maxImageSide, format: ask.imageFormat, sourceFormat: image.format });
    original = ask.compareWithOriginal ? await imagePayload(fromDecoded(image), { maxSide: ask.maxImageSide, format: ask.imageFormat, sourceFormat: image.format }) : undefined;
  } catch (e) {
    return { ...rec, error: failure('payload', e) };
  }
  const one = (payload: AnswerImage, timing: string): Promise<AnswerResult> => {
    // The original image is the same under every sweep setting: asked once per item.
    if (timing === 'vlmOriginal' && ctx.originals) {
      const known = ctx.originals.get(item.id);
      if (known) return known;
      const shared = askNow(payload, timing);
      ctx.originals.set(item.id, shared);
      // A failure is not reused: the next setting (or --resume) asks again.
      shared.catch(() => ctx.originals?.delete(item.id));
      return shared;
    }
    return askNow(payload, timing);
  };
  const askNow = async (payload: AnswerImage, timing: string): Promise<AnswerResult> => {
    await ctx.slots.acquire(signal);
    const start = performance.now();
    try {
      return await untilAborted(answers.answer({ question: item.question, image: payload, signal }), signal);
    } finally {
      rec.timings[timing] = performance.now() - start;
      ctx.slots.release();
    }
  };
  const [m, o] = await Promise.allSettled([one(masked, 'vlmMasked'), original ? one(original, 'vlmOriginal') : Promise.resolve(undefined)]);
  if (signal?.aborted) return undefined;
  const error = m.status === 'rejected' ? failure('vlm-masked', m.reason) : o.status === 'rejected' ? failure('vlm-original', o.reason) : undefined;
  const mv = m.status === 'fulfilled' ? m.value : undefined;
  const ov = o.status === 'fulfilled' ? o.value : undefined;
  const incomplete = mv?.incomplete || ov?.incomplete ? { masked: mv?.incompleteReason, original: ov?.incompleteReason } : undefined;
  return { ...rec, maskedAnswer: mv?.text, originalAnswer: ov?.text, ...(incomplete ? { incomplete } : {}), error };
}

/** A resumed sweep's original-image answers, so they are not asked again. */
export async function previousOriginals(outDir: string): Promise<Map<string, Promise<AnswerResult>>> {
  const originals = new Map<string, Promise<AnswerResult>>();
  for await (const r of readResults(path.join(outDir, 'results.jsonl'))) {
    const reason = r.incomplete?.original;
    const answer: AnswerResult = { text: r.originalAnswer ?? '', model: r.vlmModel ?? '', elapsedMs: 0, ...(reason ? { incomplete: true, incompleteReason: reason } : {}) };
    if (r.originalAnswer !== undefined && !originals.has(r.id)) originals.set(r.id, Promise.resolve(answer));
  }
  return originals;
}
