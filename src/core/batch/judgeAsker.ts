/** The judge of a run (--judge): its own answer provider, asked with text only, each request holding a slot. */
import { untilAborted } from '../errors';
import type { RunContext } from './itemContext';
import type { GradeAsker } from './judge';

/** The judge (--judge): the run's own VLM, asked with text only, each request holding a slot. */
export function judgeAsker(ctx: RunContext): GradeAsker | undefined {
  const answers = ctx.answers;
  if (!ctx.opts.judge || !answers) return undefined;
  return async (prompt, o) => {
    await ctx.slots.acquire(o.signal);
    try {
      const r = await untilAborted(answers.answer({ question: prompt, temperature: o.temperature, maxTokens: o.maxTokens, signal: o.signal }), o.signal);
      return { text: r.text, model: r.model };
    } finally {
      ctx.slots.release();
    }
  };
}
