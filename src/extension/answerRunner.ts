/**
 * Asking a model about a panel's image, from the source answerSource.ts makes ready (trust, key,
 * host consent):
 * - an OpenAI-compatible endpoint or the local model: the engine process asks it (the endpoint's
 *   key travels inside that request, the answer streams back as progress);
 * - a VS Code language model: the engine process renders the image a model receives ('payload')
 *   and the model, which exists only in this host, answers it here (LanguageModelAnswers).
 * Both the masked image and the original go into the answer history; Stop aborts the running asks.
 */
import * as vscode from 'vscode';
import type { AnswerResult } from '../core/answerProvider';
import type { AnswerEntry, AnswerSide, AnswerSource, AttributionSummary, ImageChoice, ViewParameters } from '../shared/protocol';
import { errorCodeOf, type ErrorCode } from '../shared/rpc';
import { AnswerStore, newEntry } from './answersView';
import { ApiKeys } from './apiKeys';
import { engineAnswerSource, imageRendering, readyAnswerSource } from './answerSource';
import type { EngineClient } from './engineClient';
import type { HeatmapPanel } from './heatmapPanel';
import { LanguageModelAnswerError } from './languageModels';

/** One side's answer: which image, the question, where deltas go. */
type AskSide = (which: 'masked' | 'original', summary: AttributionSummary, view: ViewParameters, question: string, signal: AbortSignal, onDelta: (d: string) => void) => Promise<AnswerResult>;

interface ReadySource {
  model: string;
  where: string;
  compareWithOriginal: boolean;
  ask: AskSide;
}

export class AnswerRunner {
  /** The asks in flight, by history entry id. */
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly engine: EngineClient,
    private readonly keys: ApiKeys,
    private readonly store: AnswerStore,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  stop(entryId: string): void {
    this.running.get(entryId)?.abort();
  }

  /** Asks about the panel's image; returns the history entry (undefined if it could not start). */
  async ask(panel: HeatmapPanel, question: string): Promise<AnswerEntry | undefined> {
    const source = await this.readySource();
    if (!source) return undefined;

    const summary = await panel.heatmap().catch(() => undefined);
    if (!summary) return undefined;
    const entry = newEntry(panel.imagePath, question, source.model, source.where, source.compareWithOriginal);
    entry.heatmapMs = Object.values(summary.timings).reduce((a, b) => a + b, 0);
    this.store.add(entry);
    void vscode.commands.executeCommand(`attentionPrompting.answers.focus`);

    const controller = new AbortController();
    this.running.set(entry.id, controller);
    const view = panel.currentView;
    this.log.info(`asking ${source.model} (${source.where}) about ${panel.imagePath}`);

    const answer = async (which: 'masked' | 'original') => {
      const side = (e: AnswerEntry): AnswerSide => (which === 'masked' ? e.masked : e.original);
      try {
        const result = await source.ask(which, summary, view, question, controller.signal, (delta) =>
          this.store.update(entry.id, (e) => {
            side(e).status = 'streaming';
            side(e).text += delta;
          }),
        );
        this.store.update(entry.id, (e) => Object.assign(side(e), { status: 'done', text: result.text, elapsedMs: result.elapsedMs }), true);
      } catch (e) {
        const stopped = errorCodeOf(e) === 'cancelled' || controller.signal.aborted;
        const message = e instanceof Error ? e.message : String(e);
        this.store.update(entry.id, (x) => Object.assign(side(x), { status: stopped ? 'stopped' : 'error', error: stopped ? undefined : message }), true);
        if (!stopped) {
          this.log.warn(`${which} answer failed: ${message}`);
          throw e;
        }
      }
    };
    const sides = [answer('masked'), ...(source.compareWithOriginal ? [answer('original')] : [])];
    const results = await Promise.allSettled(sides);
    this.running.delete(entry.id);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) this.showError(failure.reason);
    return entry;
  }

  /** The ready source (answerSource.ts) as this runner asks it: one side at a time, streamed. */
  private async readySource(): Promise<ReadySource | undefined> {
    const source = await readyAnswerSource(this.context, this.keys, this.log);
    if (!source) return undefined;
    // How the image a model receives is rendered, the same for every source.
    const rendering = imageRendering(source.settings);
    if (source.kind === 'vscode') {
      // The engine process renders the image; the model, which exists only in this host, answers it here.
      return {
        ...source.label,
        compareWithOriginal: source.settings.compareWithOriginal,
        ask: async (which, summary, view, question, signal, onDelta) => {
          const image = await this.engine.request('payload', { attributionId: summary.attributionId, view, which, ...rendering }, { signal });
          return source.model.answer({ question, image, signal, onDelta });
        },
      };
    }
    return { ...source.label, compareWithOriginal: source.settings.compareWithOriginal, ask: this.askInEngine(engineAnswerSource(source), rendering) };
  }

  /** An ask answered in the engine process (the endpoint's client or the local model), streamed back. */
  private askInEngine(source: AnswerSource, rendering: Pick<ImageChoice, 'maxSide' | 'format'>): AskSide {
    return (which, summary, view, question, signal, onDelta) =>
      this.engine.request(
        'answer',
        { attributionId: summary.attributionId, view, which, ...rendering, question, source },
        { signal, onProgress: ({ delta }) => onDelta(delta) },
      );
  }

  private showError(err: unknown): void {
    if (err instanceof LanguageModelAnswerError) {
      const fix = err.fix;
      void vscode.window.showErrorMessage(err.message, ...(fix ? [fix.title] : [])).then((choice) => {
        if (fix && choice === fix.title) void vscode.commands.executeCommand(fix.command, ...(fix.args ?? []));
      });
      return;
    }
    const setKey = vscode.l10n.t('Set API Key…');
    const openSettings = vscode.l10n.t('Open Settings');
    const code: ErrorCode = errorCodeOf(err);
    const actions = code === 'auth' || code === 'missing-key' ? [setKey] : code === 'unreachable' || code === 'model-not-found' || code === 'no-image-support' ? [openSettings] : [];
    void vscode.window.showErrorMessage(err instanceof Error ? err.message : String(err), ...actions).then((choice) => {
      if (choice === setKey) void vscode.commands.executeCommand('attentionPrompting.setApiKey');
      if (choice === openSettings) void vscode.commands.executeCommand('workbench.action.openSettings', 'attentionPrompting.answers');
    });
  }
}
