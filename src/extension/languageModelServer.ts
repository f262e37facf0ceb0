/**
 * The engine process's `answer` requests (HostVocabulary): Review Folder with a VS Code language
 * model runs in the engine process, which asks this host for every image, because `vscode.lm`
 * exists only here. The review in progress says which model serves them.
 */
import { ChannelError } from '../shared/rpc';
import type { AnswerProvider } from '../core/answerProvider';
import type { EngineClient } from './engineClient';

export class LanguageModelServer {
  private provider: AnswerProvider | undefined;

  constructor(engine: EngineClient) {
    engine.handle('answer', async (params, { signal, progress }) => {
      const provider = this.provider;
      if (!provider) throw new ChannelError('model-not-found', 'No VS Code language model is serving a review right now.');
      return provider.answer({ question: params.question, image: params.image, temperature: params.temperature, maxTokens: params.maxTokens, signal, onDelta: (delta) => progress({ delta }) });
    });
  }

  /** Runs `work` with `provider` answering the engine's requests; one review with a VS Code model at a time. */
  async serve<T>(provider: AnswerProvider, work: () => Promise<T>): Promise<T> {
    if (this.provider) throw new Error('Another review is using a VS Code language model; wait for it to finish or stop it.');
    this.provider = provider;
    try {
      return await work();
    } finally {
      this.provider = undefined;
    }
  }
}
