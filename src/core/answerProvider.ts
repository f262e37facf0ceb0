/**
 * The one shape every source of answers takes: an OpenAI-compatible endpoint (vlm.ts, runs in the
 * engine process), a VS Code language model (extension host only, since `vscode.lm` exists only
 * there) and a local Transformers.js vision-language model (engine process). Interactive asks,
 * dataset review and the CLI call `answer()` and never know which one they hold.
 */
import type { AnswerSourceKind } from './defaults';

export interface AnswerImage {
  /** Encoded image bytes, sent as they are (no base64 on the way in). */
  bytes: Uint8Array;
  mime: 'image/png' | 'image/jpeg';
}

export interface AnswerRequest {
  question: string;
  /** Absent for a text-only request (the batch judge grades answers from text, as MM-Vet's grader does). */
  image?: AnswerImage;
  /** Per-request overrides of the provider's settings (the judge asks at temperature 0 for 3 tokens). */
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  /** Each piece of text as it streams in. */
  onDelta?: (text: string) => void;
}

export interface AnswerResult {
  text: string;
  /** The model that answered, as the provider names it. */
  model: string;
  finishReason?: string;
  elapsedMs: number;
  /** True when the stream ended early (dropped connection, length cap): `text` holds what arrived. */
  incomplete?: boolean;
  /** Why the answer is incomplete, as a sentence for results, reports and the Answers panel. */
  incompleteReason?: string;
}

export interface AnswerProvider {
  readonly kind: AnswerSourceKind;
  /** For history, results and logs: the model, and where it runs (endpoint host, vendor, "this machine"). */
  readonly label: { model: string; where: string };
  answer(request: AnswerRequest): Promise<AnswerResult>;
}
