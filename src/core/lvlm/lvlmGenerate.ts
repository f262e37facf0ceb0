/**
 * Generation with a local LLaVA-family model: the prompt tokenized (with the image, or text only),
 * bounded by the model's context, then generate() with the text streamed out as it comes, the
 * reference's stop string, and cancellation.
 */
import { AttentionPromptError, throwIfAborted } from '../errors';
import { loadTransformers } from '../transformers';
import type { LoadedModel } from './lvlmLoad';
import { lvlmPrompt } from './lvlmPrompt';

/** What one generation produced. */
export interface Generation {
  text: string;
  ids: number[];
  stopReason: 'eos' | 'length' | 'stop-string';
}

/** What a generation is asked: `image` is a RawImage, or undefined for text only; `onPrompt` sees the prompt's token ids first. */
export type GenerationArgs = [
  image: unknown,
  question: string,
  maxNewTokens: number,
  signal: AbortSignal | undefined,
  onDelta: ((text: string) => void) | undefined,
  onPrompt?: (inputIds: number[]) => void,
  temperature?: number,
];

/** Generates an answer to `question` with the loaded model (`modelName` for messages). */
export async function generateAnswer(loaded: LoadedModel, modelName: string, ...[image, question, maxNewTokens, signal, onDelta, onPrompt, temperature = 0]: GenerationArgs): Promise<Generation> {
  if (typeof question !== 'string' || question.trim() === '') throw new AttentionPromptError('bad-query', 'The question is empty.');
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) throw new AttentionPromptError('bad-parameter', `maxTokens must be a positive integer, got ${maxNewTokens}.`);
  const context = loaded.config.text_config?.max_position_embeddings;
  const t = await loadTransformers();
  type Inputs = Record<string, { data: ArrayLike<number | bigint>; dims: number[] }>;
  let inputs: Inputs;
  if (image) {
    const processor = loaded.processor as unknown as (img: unknown, text: string) => Promise<Inputs>;
    inputs = await processor(image, await lvlmPrompt(loaded, question, true, modelName));
  } else {
    // Text only (the batch judge): the tokenizer alone; no pixel_values means no image merge.
    const tok = (loaded.processor as unknown as { tokenizer: (text: string) => Inputs }).tokenizer;
    inputs = tok(await lvlmPrompt(loaded, question, false, modelName));
  }
  const promptIds = Array.from(inputs.input_ids.data, (v) => Number(v));
  // The prompt and the answer share the context: refuse a prompt that fills it, and never generate past it
  // (a maxTokens setting made for a remote model still holds here: the answer ends where the context does).
  if (context !== undefined && promptIds.length >= context) {
    throw new AttentionPromptError(
      'bad-query',
      `The prompt is ${promptIds.length} tokens (the question, the template${image ? ' and the image' : ''}); "${modelName}" holds ${context} in all, answer included. Shorten the question.`,
    );
  }
  if (context !== undefined) maxNewTokens = Math.min(maxNewTokens, context - promptIds.length);
  onPrompt?.(promptIds);
  const tokenizer = (loaded.processor as unknown as { tokenizer: { decode(ids: number[], o: { skip_special_tokens: boolean }): string } }).tokenizer;
  const ids: number[] = [];
  let emitted = '';
  let stopString = false;
  const streamer = {
    first: true,
    put(value: bigint[][]) {
      if (this.first) {
        this.first = false; // the prompt
        return;
      }
      ids.push(Number(value[0][0]));
      const text = tokenizer.decode(ids, { skip_special_tokens: true });
      // Hold back a trailing replacement character: a multi-byte character split across tokens.
      if (text.length > emitted.length && text.startsWith(emitted) && !text.endsWith('\uFFFD')) {
        onDelta?.(text.slice(emitted.length));
        emitted = text;
      }
    },
    end() {},
  };
  const eosText = loaded.eosText;
  // The reference's KeywordsStoppingCriteria (mm_utils.py:88-98): stop once the decoded tail holds
  // the stop string (LLaVA-1.5's "</s>", the EOS token's text); and stop on cancellation.
  class StopCriteria extends (t.StoppingCriteria as unknown as new () => object) {
    _call(inputIds: bigint[][]): boolean[] {
      return inputIds.map(() => {
        if (signal?.aborted) return true;
        if (eosText && ids.length > 0) {
          const tail = tokenizer.decode(ids.slice(-4), { skip_special_tokens: true });
          if (tail.includes(eosText)) return (stopString = true);
        }
        return false;
      });
    }
  }
  const list = new t.StoppingCriteriaList();
  list.push(new StopCriteria() as never);
  throwIfAborted(signal);
  await (loaded.model as unknown as { generate(o: unknown): Promise<unknown> }).generate({
    ...inputs,
    max_new_tokens: maxNewTokens,
    ...(temperature > 0 ? { do_sample: true, temperature } : { do_sample: false }),
    streamer,
    stopping_criteria: list,
  });
  throwIfAborted(signal);
  const text = tokenizer.decode(ids, { skip_special_tokens: true });
  if (text.length > emitted.length && text.startsWith(emitted)) onDelta?.(text.slice(emitted.length));
  const last = ids[ids.length - 1];
  const stopReason = loaded.eosIds.includes(last) ? 'eos' : stopString ? 'stop-string' : 'length';
  return { text: text.trim(), ids, stopReason };
}
