/**
 * Asking a model about a panel's image: trust and key checks, the one-time confirmation for a new
 * host, then the engine process asks the endpoint (the key travels inside that request, the
 * answers stream back as progress) for the masked image and the original, into the answer
 * history. Holds the running asks so Stop can abort them.
 */
import * as vscode from 'vscode';
import { endpointHost } from '../core/vlm';
import type { AnswerEntry, AnswerSide, AnswerSource } from '../shared/protocol';
import { errorCodeOf, type ErrorCode } from '../shared/rpc';
import { AnswerStore, newEntry } from './answersView';
import { ApiKeys } from './apiKeys';
import { vlmConfig, vlmProvider } from './config';
import { ensureLocalModel } from './localModel';
import { confirmEndpoint } from './endpointConsent';
import type { EngineClient } from './engineClient';
import type { HeatmapPanel } from './heatmapPanel';

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
    const config = vlmConfig();
    const target = await this.answerSource(config);
    if (!target) return undefined;

    const summary = await panel.heatmap().catch(() => undefined);
    if (!summary) return undefined;
    const entry = newEntry(panel.imagePath, question, target.model, target.where, config.compareWithOriginal);
    entry.heatmapMs = Object.values(summary.timings).reduce((a, b) => a + b, 0);
    this.store.add(entry);
    void vscode.commands.executeCommand(`attentionPrompting.answers.focus`);

    const controller = new AbortController();
    this.running.set(entry.id, controller);
    const view = panel.currentView;
    const { maxImageSide, imageFormat } = config;
    this.log.info(`asking ${target.model} at ${target.where} about ${panel.imagePath}${target.keySource ? ` (key from ${target.keySource})` : ''}`);

    const answer = async (which: 'masked' | 'original') => {
      const side = (e: AnswerEntry): AnswerSide => (which === 'masked' ? e.masked : e.original);
      try {
        const result = await this.engine.request(
          'answer',
          { attributionId: summary.attributionId, view, which, maxSide: maxImageSide, format: imageFormat, question, source: target.source },
          {
            signal: controller.signal,
            onProgress: ({ delta }) =>
              this.store.update(entry.id, (e) => {
                side(e).status = 'streaming';
                side(e).text += delta;
              }),
          },
        );
        this.store.update(entry.id, (e) => Object.assign(side(e), { status: 'done', text: result.text, elapsedMs: result.elapsedMs }), true);
      } catch (e) {
        const stopped = errorCodeOf(e) === 'cancelled';
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

  /**
   * Who answers, per `vlm.provider`: the endpoint (its key, and the one-time confirmation for a new
   * host), or the local model (chosen first if none was: nothing downloads before). Undefined: not now.
   */
  private async answerSource(config: ReturnType<typeof vlmConfig>): Promise<{ source: AnswerSource; model: string; where: string; keySource?: string } | undefined> {
    if (vlmProvider() === 'local') {
      const local = await ensureLocalModel(this.context);
      if (!local) return undefined;
      return { source: { kind: 'local', model: local, maxTokens: config.maxTokens }, model: local.model, where: vscode.l10n.t('this machine') };
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
    // The endpoint's own settings: how images are prepared and compared stays on this side.
    const { compareWithOriginal, maxImageSide, imageFormat, ...endpoint } = config;
    return { source: { kind: 'openai', endpoint: { ...endpoint, apiKey: key.key } }, model: config.model, where: host, keySource: key.source };
  }

  private showError(err: unknown): void {
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
