/**
 * Asking a model about a panel's image: trust checks, then the chosen source (answerSourceChoice):
 * - an OpenAI-compatible endpoint: key and the one-time confirmation for a new host, then the
 *   engine process asks the endpoint (the key travels inside that request, the answer streams
 *   back as progress);
 * - a VS Code language model: the engine process renders the image a model receives ('payload')
 *   and the model, which exists only in this host, answers it here (LanguageModelAnswers).
 * Both the masked image and the original go into the answer history; Stop aborts the running asks.
 */
import * as vscode from 'vscode';
import type { AnswerResult } from '../core/answerProvider';
import { endpointHost } from '../core/endpointUrl';
import type { AnswerEntry, AnswerSide, AnswerSource, AttributionSummary, ImageChoice, ViewParameters } from '../shared/protocol';
import { errorCodeOf, type ErrorCode } from '../shared/rpc';
import { AnswerStore, newEntry } from './answersView';
import { ApiKeys } from './apiKeys';
import { resolveAnswerSource } from './answerSourceChoice';
import { vlmConfig } from './config';
import { ensureLocalModel } from './localModel';
import { confirmEndpoint } from './endpointConsent';
import type { EngineClient } from './engineClient';
import type { HeatmapPanel } from './heatmapPanel';
import { LanguageModelAnswerError, LanguageModelAnswers } from './languageModels';

/** One side's answer: which image, the question, where deltas go. */
type AskSide = (which: 'masked' | 'original', summary: AttributionSummary, view: ViewParameters, question: string, signal: AbortSignal, onDelta: (d: string) => void) => Promise<AnswerResult>;

interface ReadySource {
  model: string;
  where: string;
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
    if (!vscode.workspace.isTrusted) {
      const manage = vscode.l10n.t('Manage Workspace Trust');
      // Not awaited: the ask ends now; the button stays available on the notification.
      void vscode.window
        .showWarningMessage(vscode.l10n.t('Sending images to a vision-language model needs a trusted workspace. Heatmaps work in Restricted Mode.'), manage)
        .then((choice) => choice === manage && vscode.commands.executeCommand('workbench.trust.manage'));
      return undefined;
    }
    const source = await this.readySource();
    if (!source) return undefined;

    const summary = await panel.heatmap().catch(() => undefined);
    if (!summary) return undefined;
    const config = vlmConfig();
    const entry = newEntry(panel.imagePath, question, source.model, source.where, config.compareWithOriginal);
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
    const sides = [answer('masked'), ...(config.compareWithOriginal ? [answer('original')] : [])];
    const results = await Promise.allSettled(sides);
    this.running.delete(entry.id);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) this.showError(failure.reason);
    return entry;
  }

  /** The source the settings choose, with its checks done; undefined (after saying why) when there is none. */
  private async readySource(): Promise<ReadySource | undefined> {
    const choice = await resolveAnswerSource(this.context);
    if (!choice) return undefined;
    const config = vlmConfig();
    const { compareWithOriginal, maxImageSide, imageFormat, ...endpoint } = config;
    void compareWithOriginal;
    // How the image a model receives is rendered, the same for every source.
    const rendering = { maxSide: maxImageSide, format: imageFormat };
    if (choice.kind === 'vscode') {
      // No key and no host confirmation: VS Code asks its own consent before the first request.
      const provider = new LanguageModelAnswers(choice.model);
      return {
        ...provider.label,
        ask: async (which, summary, view, question, signal, onDelta) => {
          const image = await this.engine.request('payload', { attributionId: summary.attributionId, view, which, ...rendering }, { signal });
          return provider.answer({ question, image, signal, onDelta });
        },
      };
    }
    if (choice.kind === 'local') {
      // Nothing leaves the machine: the engine process runs the local model (chosen first if none was; nothing downloads before).
      const local = await ensureLocalModel(this.context);
      if (!local) return undefined;
      const source = { kind: 'local' as const, model: local, maxTokens: config.maxTokens };
      return {
        model: local.model,
        where: vscode.l10n.t('this machine'),
        ask: this.askInEngine(source, rendering),
      };
    }
    let host: string;
    try {
      host = endpointHost(config.baseURL);
    } catch (e) {
      this.showError(e);
      return undefined;
    }
    const key = await this.keys.get(host);
    if (!key) {
      const setKey = vscode.l10n.t('Set API Key');
      void vscode.window
        .showErrorMessage(vscode.l10n.t('No API key for {0}. Set one (local servers such as Ollama accept any text).', host), setKey)
        .then((choice) => choice === setKey && vscode.commands.executeCommand('attentionPrompting.setApiKey'));
      return undefined;
    }
    if (!(await confirmEndpoint(this.context, host, config.baseURL))) return undefined;
    this.log.info(`endpoint ${host}: key from ${key.source}`);
    return {
      model: config.model,
      where: host,
      ask: this.askInEngine({ kind: 'openai', endpoint: { ...endpoint, apiKey: key.key } }, rendering),
    };
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
    const setKey = vscode.l10n.t('Set API Key');
    const openSettings = vscode.l10n.t('Open Settings');
    const code: ErrorCode = errorCodeOf(err);
    const actions = code === 'auth' || code === 'missing-key' ? [setKey] : code === 'unreachable' || code === 'model-not-found' || code === 'no-image-support' ? [openSettings] : [];
    void vscode.window.showErrorMessage(err instanceof Error ? err.message : String(err), ...actions).then((choice) => {
      if (choice === setKey) void vscode.commands.executeCommand('attentionPrompting.setApiKey');
      if (choice === openSettings) void vscode.commands.executeCommand('workbench.action.openSettings', 'attentionPrompting.vlm');
    });
  }
}
