/**
 * The judge for open answers: the MM-Vet protocol (Yu et al., "MM-Vet: Evaluating Large
 * Multimodal Models for Integrated Capabilities", arXiv 2308.02490, §3.2 and its few-shot grader
 * prompt; evaluator github.com/yuweihao/MM-Vet, mm-vet_evaluator.py). A language model is shown
 * a fixed few-shot table "Question | Ground truth | Prediction | Correctness" and completes the
 * last correctness cell with 0.0–1.0; the first whitespace-separated token is the grade. An
 * unreadable or out-of-range reply is asked again with "Predict the correctness of the answer
 * (digit): " appended and the temperature raised by 0.5, up to five tries, then graded 0.0.
 * The evaluator asks with temperature 0 and at most 3 tokens; the total is the mean grade.
 *
 * The judge is the run's own answer provider, asked with text only (no image), as MM-Vet's
 * GPT-4 grader is.
 */
import { createHash } from 'node:crypto';
import type { AnswerProvider } from '../answerProvider';
import type { AnswerScore } from './scoring';

/** MM-Vet's grader prompt (mm-vet_evaluator.py `prompt`), verbatim: the protocol's fixed text. */
export const MM_VET_GRADER_PROMPT = `Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. <AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, and <OR> means it is totally right when any one element in the ground truth is present in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right). Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics. | 1.0
`;

/** The retry suffix of mm-vet_evaluator.py. */
export const MM_VET_RETRY_SUFFIX = '\nPredict the correctness of the answer (digit): ';
export const MM_VET_MAX_TRIES = 5;
export const MM_VET_MAX_TOKENS = 3;

/** A short, stable name for the grading prompt, stored with every grade (the full text is in summary.json). */
export const GRADER_PROMPT_ID = `mm-vet-v1:${createHash('sha256').update(MM_VET_GRADER_PROMPT).digest('hex').slice(0, 12)}`;

/** The grading request for one answer: several accepted answers are joined with MM-Vet's <OR>. */
export function gradingPrompt(question: string, accepted: string[], prediction: string): string {
  const truth = accepted.join(' <OR> ').replace(/<AND>/g, ' <AND> ').replace(/<OR>/g, ' <OR> ');
  // The table is pipe-separated and one row per line: a newline in an answer would break the row.
  const cell = (s: string) => s.replace(/\s*\n\s*/g, ' ');
  return `${MM_VET_GRADER_PROMPT}\n${[cell(question), cell(truth), cell(prediction), ''].join(' | ')}`;
}

/** The grade in a reply, or undefined when the first token is not a number in [0, 1]. */
export function parseGrade(reply: string): number | undefined {
  const first = reply.trim().split(/\s+/)[0] ?? '';
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(first)) return undefined;
  const score = Number(first);
  return score >= 0 && score <= 1 ? score : undefined;
}

/** What the judge needs from a provider: a text-only answer with a temperature and a token cap. */
export type GradeAsker = (prompt: string, opts: { temperature: number; maxTokens: number; signal?: AbortSignal }) => Promise<{ text: string; model: string }>;

/** A GradeAsker over an AnswerProvider (text only: no image is sent). */
export function askerFromProvider(provider: AnswerProvider): GradeAsker {
  return async (prompt, opts) => {
    const r = await provider.answer({ question: prompt, signal: opts.signal, temperature: opts.temperature, maxTokens: opts.maxTokens });
    return { text: r.text, model: r.model };
  };
}

/** Grades one prediction by the MM-Vet protocol. */
export async function grade(ask: GradeAsker, question: string, accepted: string[], prediction: string, signal?: AbortSignal): Promise<NonNullable<AnswerScore['judge']>> {
  const base = gradingPrompt(question, accepted, prediction);
  const raw: string[] = [];
  let temperature = 0;
  let model = '';
  for (let attempt = 1; attempt <= MM_VET_MAX_TRIES; attempt++) {
    const reply = await ask(attempt === 1 ? base : base + MM_VET_RETRY_SUFFIX, { temperature, maxTokens: MM_VET_MAX_TOKENS, signal });
    model = reply.model;
    raw.push(reply.text);
    const score = parseGrade(reply.text);
    if (score !== undefined) return { score, model, prompt: GRADER_PROMPT_ID, raw };
    if (attempt > 1) temperature += 0.5;
  }
  return { score: 0, model, prompt: GRADER_PROMPT_ID, raw };
}
