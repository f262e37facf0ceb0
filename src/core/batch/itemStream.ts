/**
 * The run's items as a stream: read (the shard's share), counted once up front, and decoded one
 * ahead of the model so decoding overlaps inference while only the current and next image are held.
 */
import { IMAGE_EXTENSIONS, PRE_EMBED_LIMIT } from '../defaults';
import { AttentionPromptError } from '../errors';
import { DecodedImage, ImageLimits, decodeImage } from '../image';
import type { BatchOptions } from './batchOptions';
import { BatchItem, readItems } from './inputs';
import { inShard } from './shards';

/** The run's items: the input's, or the shard's share of them. */
export async function* runItems(opts: BatchOptions): AsyncGenerator<BatchItem> {
  for await (const item of readItems(opts.input, inputOptions(opts))) if (inShard(item.id, opts.shard)) yield item;
}

/**
 * Reads every item once (validating each line, question and path) and counts them; none is an
 * error. Also gathers the distinct texts the maps are made from (a hint, else the question), up
 * to one past PRE_EMBED_LIMIT: the engine embeds them before its vision session loads.
 */
export async function countItems(opts: BatchOptions): Promise<{ count: number; mapTexts: string[] }> {
  let count = 0;
  const mapTexts = new Set<string>();
  for await (const item of runItems(opts)) {
    count++;
    if (mapTexts.size <= PRE_EMBED_LIMIT) mapTexts.add((item.hint?.trim() ? item.hint : item.question).trim());
  }
  if (count === 0) throw new AttentionPromptError('bad-parameter', `Nothing to do: ${opts.input} holds no images (looked for .${IMAGE_EXTENSIONS.join(' .')}).`);
  return { count, mapTexts: [...mapTexts] };
}

const inputOptions = (opts: BatchOptions) => ({ question: opts.question, allowOutsidePaths: opts.allowOutsidePaths });

/** An item with its image decoded, or the reason it could not be. */
export type Decoded = { item: BatchItem; image?: DecodedImage; error?: Error; decodeMs: number };

/** Decodes the items not yet answered, in input order; a skipped id is only counted. */
export async function* decodeUnanswered(items: AsyncIterable<BatchItem>, answered: (id: string) => boolean, onSkip: (id: string) => void, limits: ImageLimits): AsyncGenerator<Decoded> {
  for await (const item of items) {
    if (answered(item.id)) {
      onSkip(item.id);
      continue;
    }
    const start = performance.now();
    try {
      yield { item, image: await decodeImage(item.image, limits), decodeMs: performance.now() - start };
    } catch (e) {
      yield { item, error: e as Error, decodeMs: performance.now() - start };
    }
  }
}

/** Keeps the next value of `source` in preparation while the caller works on the current one. */
export async function* oneAhead<T>(source: AsyncIterator<T>, discard?: (value: T) => void): AsyncGenerator<T> {
  let pending = source.next();
  try {
    for (;;) {
      const r = await pending;
      if (r.done) return;
      pending = source.next();
      yield r.value;
    }
  } finally {
    // Stopped early (Ctrl-C): the prepared value is discarded (its failure has nobody to report
    // to) and the source is closed once it settles.
    void pending.then(
      (r) => {
        if (!r.done) discard?.(r.value);
        return source.return?.(undefined);
      },
      () => undefined,
    );
  }
}
