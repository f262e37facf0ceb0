/**
 * Extension entry: commands, the heatmap panels (restored after a window reload), the answers
 * side panel and the engine process. activate returns nothing: the integration tests reach the
 * internals through a command that exists only when the test environment asks for it.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { MODEL_PRESETS } from '../core/defaults';
import { availableDtypes } from '../core/modelDtypes';
import { locateModel } from '../core/modelLocation';
import { formatBytes } from '../core/sizes';
import { endpointHost } from '../core/endpointUrl';
import { AnswerStore, AnswersViewProvider } from './answersView';
import { AnswerRunner } from './answerRunner';
import { chooseAnswerSource } from './answerSourceChoice';
import { HostAnswerService } from './hostAnswers';
import { chatFollowups, chatHandler, registerChatParticipant } from './chatParticipant';
import { MASK_IMAGE_TOOL, MaskImageTool } from './maskImageTool';
import { ApiKeys } from './apiKeys';
import { SECTION, idleMs, modelParameters, onInvalidSetting, vlmConfig } from './config';
import { chooseLocalModel } from './localModel';
import { EngineClient } from './engineClient';
import { HEATMAP_VIEW_TYPE, HeatmapPanel, PanelServices } from './heatmapPanel';
import { checkRestoredPanel, type BatchOutcome } from '../shared/protocol';
import { TEST_HOOKS_ENV, type ExtensionTestApi } from './testHooks';
import { imagesForCommand } from './imageSelection';
import { pickModel } from './modelPicker';
import { promptQuestion } from './questionPrompt';
import { ReviewInputs, confirmRerunInput } from './rerunTrust';
import { REPORT_VIEW_TYPE, promptReview, restoreReport, reviewRequestOfRun, runReview, showReport, type ReportActions, type ReviewRequest } from './reviewFolder';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Attention Prompting', { log: true });
  onInvalidSetting((message) => log.warn(message));
  const engine = new EngineClient({
    scriptPath: context.asAbsolutePath(path.join('dist', 'engine.js')),
    idleMs: idleMs(),
    log: (level, message) => log[level](message),
  });
  const keys = new ApiKeys(context.secrets);
  const answers = new AnswerStore(context.workspaceState);
  const ask = new AnswerRunner(context, engine, keys, answers, log);
  const hostAnswers = new HostAnswerService(engine);
  const services: PanelServices = { context, engine, log, ask: async (panel, q) => void (await ask.ask(panel, q)) };

  const answersView = new AnswersViewProvider(context.extensionUri, answers, {
    reask: (entry) => void reask(entry.imagePath, entry.question),
    stop: (entry) => ask.stop(entry.id),
    reveal: (entry) => void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(entry.imagePath)),
  }, log);

  async function reask(imagePath: string, question: string): Promise<void> {
    const existing = HeatmapPanel.find(imagePath);
    const panel = existing ?? HeatmapPanel.show(services, vscode.Uri.file(imagePath), question);
    await ask.ask(panel, question);
  }

  async function openPanels(uri: vscode.Uri | undefined, uris: vscode.Uri[] | undefined, withAnswer: boolean): Promise<HeatmapPanel[]> {
    const images = await imagesForCommand(uri, uris);
    if (!images.length) return [];
    const question = await promptQuestion(context, images);
    if (question === undefined) return [];
    const panels = images.map((img) => HeatmapPanel.show(services, img, question));
    if (withAnswer) await Promise.all(panels.map((p) => ask.ask(p, question)));
    return panels;
  }

  const command = (id: string, f: (...args: never[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(`${SECTION}.${id}`, f));

  command('askAboutImage', (uri?: vscode.Uri, uris?: vscode.Uri[]) => openPanels(uri, uris, true));
  command('showHeatmap', (uri?: vscode.Uri, uris?: vscode.Uri[]) => openPanels(uri, uris, false));
  command('setApiKey', async () => {
    const host = safeHost();
    if (!host) return;
    const key = await vscode.window.showInputBox({
      title: vscode.l10n.t('API key for {0}', host),
      prompt: vscode.l10n.t('Stored in VS Code’s secret storage, never in settings. Local servers (Ollama, LM Studio, vLLM) accept any text.'),
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : vscode.l10n.t('Enter a key')),
    });
    if (!key) return;
    await keys.set(host, key);
    log.info(`API key for ${host} stored in secret storage`);
    void vscode.window.showInformationMessage(vscode.l10n.t('API key for {0} saved.', host));
  });
  command('clearApiKey', async () => {
    const host = safeHost();
    if (!host) return;
    await keys.clear(host);
    log.info(`API key for ${host} removed from secret storage`);
    void vscode.window.showInformationMessage(vscode.l10n.t('API key for {0} cleared.', host));
  });
  command('chooseModel', async () => {
    const model = await pickModel({
      presets: MODEL_PRESETS,
      current: vscode.workspace.getConfiguration(SECTION).get<string>('model'),
      title: vscode.l10n.t('CLIP model for the heatmap'),
      folderDetail: vscode.l10n.t('A folder in the Transformers.js layout (config.json, tokenizer.json, onnx/…)'),
      otherDetail: vscode.l10n.t('Any CLIP export on the Hugging Face hub, e.g. Xenova/clip-vit-base-patch16'),
    });
    if (!model) return;
    // Then the weights: the dtypes this model offers, with their download sizes.
    const params = modelParameters(context);
    let offered: Awaited<ReturnType<typeof availableDtypes>>;
    try {
      offered = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Looking up the files of {0}…', model), cancellable: true }, (_progress, token) => {
        const cancel = new AbortController();
        token.onCancellationRequested(() => cancel.abort());
        return availableDtypes(locateModel({ model, revision: params.revision, cacheDir: params.cacheDir }), cancel.signal);
      });
    } catch (e) {
      if ((e as { code?: string }).code !== 'cancelled') void vscode.window.showErrorMessage((e as Error).message);
      return;
    }
    const dtypeItems = offered
      .filter((d) => d.vision !== undefined && d.text !== undefined)
      .map((d) => ({
        label: d.dtype,
        description: [d.dtype === params.dtype ? vscode.l10n.t('current') : '', d.cached ? vscode.l10n.t('downloaded') : ''].filter(Boolean).join(' · ') || undefined,
        detail: vscode.l10n.t('{0} in all (vision {1} + text {2})', formatBytes(d.vision! + d.text!), formatBytes(d.vision!), formatBytes(d.text!)),
      }));
    if (dtypeItems.length === 0) {
      void vscode.window.showErrorMessage(vscode.l10n.t('{0} has no CLIP vision and text files in the Transformers.js layout (onnx/vision_model*.onnx, onnx/text_model*.onnx).', model));
      return;
    }
    const dtypePick = await vscode.window.showQuickPick(dtypeItems, { title: vscode.l10n.t('Weights of {0}', model) });
    if (!dtypePick) return;
    await vscode.workspace.getConfiguration(SECTION).update('model', model, vscode.ConfigurationTarget.Global);
    await vscode.workspace.getConfiguration(SECTION).update('dtype', dtypePick.label, vscode.ConfigurationTarget.Global);
    engine.dispose();
  });
  // The engine process replaces its local model when the next request names another one.
  command('chooseLocalModel', () => chooseLocalModel());
  command('reviewFolder', async (uri?: vscode.Uri) => {
    const request = await promptReview(context, uri, keys);
    if (!request) return undefined;
    try {
      const outcome = await runReview(context, engine, keys, hostAnswers, log, request);
      if (outcome) {
        openReport(outcome, request);
        const summary = vscode.l10n.t('{0} done, {1} failed, {2} skipped · results in {3}', outcome.done, outcome.failed, outcome.skipped, outcome.outDir);
        void (outcome.failed ? vscode.window.showWarningMessage(summary) : vscode.window.showInformationMessage(summary));
      }
      return outcome;
    } catch (e) {
      void vscode.window.showErrorMessage((e as Error).message);
      return undefined;
    }
  });
  command('chooseAnswerModel', () => chooseAnswerSource(context));
  // The @attention participant's button (and anyone with an image and a question): the panel for them.
  command('openHeatmapFor', (uri: vscode.Uri, question: string) => {
    if (!(uri instanceof vscode.Uri) || typeof question !== 'string') return undefined;
    HeatmapPanel.show(services, uri, question);
  });
  command('showLog', () => log.show());
  command('openSample', async () => {
    const sample = vscode.Uri.joinPath(context.extensionUri, 'media', 'examples', 'shapes.png');
    HeatmapPanel.show(services, sample, 'Where is the red square?');
  });

  const agentDeps = { context, engine, log };
  context.subscriptions.push(
    vscode.lm.registerTool(MASK_IMAGE_TOOL, new MaskImageTool(agentDeps)),
    registerChatParticipant(agentDeps),
    vscode.window.registerWebviewViewProvider(AnswersViewProvider.viewId, answersView),
    vscode.window.registerWebviewPanelSerializer(HEATMAP_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state: unknown) => {
        try {
          HeatmapPanel.restore(services, panel, checkRestoredPanel(state, 'state'));
        } catch (e) {
          log.warn(`a heatmap panel could not be restored: ${(e as Error).message}`);
          panel.dispose();
        }
      },
    }),
    vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel) => {
        try {
          // Row clicks need only the output folder; Re-run failed reads the run's request from it when clicked.
          const report = restoreReport(panel, (outDir) => reportActions(() => panel, () => reviewRequestOfRun(outDir)));
          log.info(`restored the review report ${report}`);
        } catch (e) {
          log.warn(`a review report could not be restored: ${(e as Error).message}`);
          panel.dispose();
        }
      },
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${SECTION}.model`) || e.affectsConfiguration(`${SECTION}.dtype`) || e.affectsConfiguration(`${SECTION}.engine`)) engine.dispose();
    }),
    log,
    { dispose: () => engine.dispose() },
    { dispose: () => answers.dispose() },
  );
  log.info(`activated (engine script ${context.asAbsolutePath('dist/engine.js')})`);

  /**
   * A run's report: a row opens its image's heatmap panel with the run's question and parameters;
   * "Re-run failed" resumes the run and replaces the report with the new one.
   */
  function openReport(outcome: BatchOutcome, request: ReviewRequest): void {
    const panel: vscode.WebviewPanel = showReport(outcome, reportActions(() => panel, () => request));
  }

  /**
   * What a report panel's clicks do, fresh or restored after a reload. `request` gives the run's
   * request when Re-run failed is clicked (a restored panel reads it from the output folder then,
   * and throws with the reason when it cannot).
   */
  function reportActions(panel: () => vscode.WebviewPanel, request: () => ReviewRequest): ReportActions {
    let rerunning = false;
    return {
      log,
      openItem: (record, view) => {
        HeatmapPanel.show(services, vscode.Uri.file(record.image), record.question, view);
        // The panel computes with the current model settings; say so when the run used others.
        const now = modelParameters(context);
        if (record.model !== now.model || record.parameters?.geometry !== now.geometry) {
          void vscode.window.showInformationMessage(
            vscode.l10n.t('{0} was computed with {1} ({2} geometry); the heatmap panel uses the current settings: {3} ({4} geometry).', record.id, record.model, String(record.parameters?.geometry), now.model, now.geometry),
          );
        }
      },
      rerunFailed: async () => {
        if (rerunning) return;
        rerunning = true;
        try {
          const resumed = { ...request(), resume: true };
          // A restored panel's request comes from settings.json: its input must be the one this host started the run with, or confirmed.
          const input = resumed.jsonl?.fsPath ?? resumed.folder.fsPath;
          if (!(await confirmRerunInput(new ReviewInputs(context.globalState), resumed.outDir.fsPath, input, resumed.withVlm))) return;
          const next = await runReview(context, engine, keys, hostAnswers, log, resumed);
          if (next) {
            panel().dispose();
            openReport(next, resumed);
          }
        } catch (e) {
          void vscode.window.showErrorMessage((e as Error).message);
        } finally {
          rerunning = false;
        }
      },
    };
  }

  if (process.env[TEST_HOOKS_ENV] === '1') {
    const hooks: ExtensionTestApi = {
      engine,
      answers,
      panels: () => HeatmapPanel.all().map((p) => p.snapshot()),
      askAbout: async (imagePath, question) => {
        const panel = HeatmapPanel.find(imagePath);
        if (!panel) throw new Error(`no heatmap panel for ${imagePath}`);
        return ask.ask(panel, question);
      },
      stop: (entryId) => ask.stop(entryId),
      review: async (request) => {
        const outcome = await runReview(context, engine, keys, hostAnswers, log, request);
        if (outcome) openReport(outcome, request);
        return outcome;
      },
      showReport: (outcome, request) => openReport(outcome, request),
      setView: async (imagePath, view) => {
        const panel = HeatmapPanel.find(imagePath);
        if (!panel) throw new Error(`no heatmap panel for ${imagePath}`);
        await panel.setView(view);
      },
      reveal: async (imagePath) => {
        const panel = HeatmapPanel.find(imagePath);
        if (!panel) throw new Error(`no heatmap panel for ${imagePath}`);
        panel.panel.reveal();
      },
      chat: chatHandler(agentDeps),
      chatFollowups: async (result) => chatFollowups(result),
    };
    command('testHooks', () => hooks);
  }

  function safeHost(): string | undefined {
    try {
      return endpointHost(vlmConfig().baseURL);
    } catch (e) {
      void vscode.window.showErrorMessage((e as Error).message);
      return undefined;
    }
  }
}

export function deactivate(): void {
  // Disposables registered on the context stop the engine process.
}
