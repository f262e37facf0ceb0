/**
 * The answer sources the engine process can use, all behind AnswerProvider: an OpenAI-compatible
 * endpoint it calls itself (VlmClient), or the extension host's VS Code language model, reached by
 * a request back to the host over the same channel (only the host has `vscode.lm`).
 */
import type { AnswerProvider, AnswerRequest, AnswerResult } from '../core/answerProvider';
import type { ErrorCode } from '../core/errors';
import { VlmClient, type VlmErrorKind } from '../core/vlm';
import type { AnswerSource, EngineVocabulary, HostVocabulary } from '../shared/protocol';
import type { Endpoint } from '../shared/rpc';

/** Every VLM error kind crosses the channel as itself: they must all be codes of the one closed set. */
const vlmKindsAreErrorCodes: VlmErrorKind extends ErrorCode ? true : never = true;
void vlmKindsAreErrorCodes;

/** The host's VS Code language model, seen from here: an engine → host request; deltas come back as its progress, cancellation goes forward. */
export class HostLanguageModel implements AnswerProvider {
  readonly kind = 'vscode' as const;
  constructor(
    private readonly host: Endpoint<EngineVocabulary, HostVocabulary>,
    readonly label: { model: string; where: string } = { model: 'VS Code language model', where: 'VS Code' },
  ) {}

  answer(req: AnswerRequest): Promise<AnswerResult> {
    return this.host.request(
      'answer',
      { question: req.question, image: req.image, temperature: req.temperature, maxTokens: req.maxTokens },
      { signal: req.signal, onProgress: (p) => req.onDelta?.(p.delta) },
    );
  }
}

export function answerSource(source: AnswerSource, host: Endpoint<EngineVocabulary, HostVocabulary>): AnswerProvider {
  return source.kind === 'openai' ? new VlmClient(source.endpoint) : new HostLanguageModel(host);
}
