/**
 * Asking the VLM: trust and key checks, the one-time confirmation for a new host, the masked
 * (and original) image payloads from the engine process, two streamed answers into the side
 * panel, and Stop wired to AbortControllers.
 */
import * as vscode from 'vscode';
import { DEFAULT_BASE_URL } from '../core/defaults';
import { VlmClient, VlmError, endpointHost } from '../core/vlm';
import type { AnswerEntry, AnswerSide } from '../shared/protocol';
import { AnswerStore, newEntry } from './answersView';
import { ApiKeys } from './apiKeys';
import { vlmConfig } from './config';
import type { EngineClient } from './engineClient';
import type { HeatmapPanel } from './heatmapPanel';

const CONFIRMED_HOSTS = 'attentionPrompting.confirmedHosts';

export class AskController {
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
    let host: string;
    try {
      host = endpointHost(config.baseURL);
    } catch (e) {
      this.showError(e as VlmError);
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
    if (!(await this.confirmHost(host, config.baseURL))) return undefined;

    const summary = await panel.heatmap().catch(() => undefined);
    if (!summary) return undefined;
    const entry = newEntry(panel.imagePath, question, config.model, host, config.compareWithOriginal);
    entry.heatmapMs = Object.values(summary.timings).reduce((a, b) => a + b, 0);
    this.store.add(entry);
    void vscode.commands.executeCommand(`attentionPrompting.answers.focus`);

    const controller = new AbortController();
    this.running.set(entry.id, controller);
    const view = panel.currentView;
    const client = new VlmClient({ ...config, apiKey: key.key });
    this.log.info(`asking ${config.model} at ${host} about ${panel.imagePath} (key from ${key.source})`);

    const answer = async (which: 'masked' | 'original') => {
      const side = (e: AnswerEntry): AnswerSide => (which === 'masked' ? e.masked : e.original);
      try {
        const payload = (await this.engine.request(
          'payload',
          { attributionId: summary.attributionId, view, which, maxSide: config.maxImageSide, format: config.imageFormat },
          { signal: controller.signal },
        )) as { url: string; bytes: number };
        this.store.update(entry.id, (e) => (side(e).status = 'streaming'));
        const result = await client.ask({
          question,
          imageUrl: payload.url,
          signal: controller.signal,
          onDelta: (d) => this.store.update(entry.id, (e) => (side(e).text += d)),
        });
        this.store.update(entry.id, (e) => Object.assign(side(e), { status: 'done', elapsedMs: result.elapsedMs }), true);
      } catch (e) {
        const err = e as VlmError & { code?: string };
        const stopped = err.kind === 'cancelled' || err.code === 'cancelled';
        this.store.update(entry.id, (x) => Object.assign(side(x), { status: stopped ? 'stopped' : 'error', error: stopped ? undefined : err.message }), true);
        if (!stopped) {
          this.log.warn(`${which} answer failed: ${err.message}`);
          throw err;
        }
      }
    };
    const sides = [answer('masked'), ...(config.compareWithOriginal ? [answer('original')] : [])];
    const results = await Promise.allSettled(sides);
    this.running.delete(entry.id);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) this.showError(failure.reason as VlmError);
    return entry;
  }

  private async confirmHost(host: string, baseURL: string): Promise<boolean> {
    if (endpointHost(DEFAULT_BASE_URL) === host) return true;
    const confirmed = this.context.globalState.get<string[]>(CONFIRMED_HOSTS, []);
    if (confirmed.includes(host)) return true;
    const send = vscode.l10n.t('Send');
    const cancel = vscode.l10n.t('Cancel');
    // A notification rather than a modal dialog: it names the endpoint, waits for an explicit
    // choice, and closing it counts as Cancel.
    const choice = await vscode.window.showWarningMessage(
      vscode.l10n.t('Send images and your API key to {0} ({1})? This endpoint is not OpenAI’s; you will not be asked again for this host.', host, baseURL),
      send,
      cancel,
    );
    if (choice !== send) return false;
    await this.context.globalState.update(CONFIRMED_HOSTS, [...confirmed, host]);
    return true;
  }

  private showError(err: VlmError): void {
    const setKey = vscode.l10n.t('Set API Key');
    const openSettings = vscode.l10n.t('Open Settings');
    const actions = err.kind === 'auth' || err.kind === 'missing-key' ? [setKey] : err.kind === 'unreachable' || err.kind === 'model-not-found' || err.kind === 'no-image-support' ? [openSettings] : [];
    void vscode.window.showErrorMessage(err.message, ...actions).then((choice) => {
      if (choice === setKey) void vscode.commands.executeCommand('attentionPrompting.setApiKey');
      if (choice === openSettings) void vscode.commands.executeCommand('workbench.action.openSettings', 'attentionPrompting.vlm');
    });
  }
}
