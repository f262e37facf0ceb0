/**
 * Extension entry: commands, the heatmap panels, the answers side panel and the engine process.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { IMAGE_EXTENSIONS, MODEL_PRESETS } from '../core/defaults';
import { endpointHost } from '../core/vlm';
import { AnswerStore, AnswersViewProvider } from './answersView';
import { ApiKeys } from './apiKeys';
import { AskController } from './askFlow';
import { SECTION, idleMs, onInvalidSetting, vlmConfig } from './config';
import { EngineClient } from './engineClient';
import { HeatmapPanel, PanelServices, PanelSnapshot } from './heatmapPanel';
import type { AnswerEntry } from '../shared/protocol';
import { askQuestion, resolveImages } from './targets';
import { promptReview, runReview, showReport, ReviewRequest } from './reviewFolder';

/** What the integration tests read (returned by activate). */
export interface ExtensionTestApi {
  engine: EngineClient;
  answers: AnswerStore;
  panels(): PanelSnapshot[];
  /** Asks about an image whose panel is open (as its Ask button does). */
  askAbout(imagePath: string, question: string): Promise<AnswerEntry | undefined>;
  stop(entryId: string): void;
  /** Runs a review without the prompts (the integration suite answers them this way). */
  review(request: ReviewRequest): Promise<import('../shared/protocol').BatchOutcome | undefined>;
}

export function activate(context: vscode.ExtensionContext): ExtensionTestApi {
  const log = vscode.window.createOutputChannel('Attention Prompting', { log: true });
  onInvalidSetting((message) => log.warn(message));
  const engine = new EngineClient({
    scriptPath: context.asAbsolutePath(path.join('dist', 'engine.js')),
    idleMs: idleMs(),
    log: (level, message) => log[level](message),
  });
  const keys = new ApiKeys(context.secrets);
  const answers = new AnswerStore(context.workspaceState);
  const ask = new AskController(context, engine, keys, answers, log);
  const services: PanelServices = { context, engine, log, ask: async (panel, q) => void (await ask.ask(panel, q)) };

  const answersView = new AnswersViewProvider(context.extensionUri, answers, {
    reask: (entry) => void reask(entry.imagePath, entry.question),
    stop: (entry) => ask.stop(entry.id),
    reveal: (entry) => void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(entry.imagePath)),
  });

  async function reask(imagePath: string, question: string): Promise<void> {
    const existing = HeatmapPanel.find(imagePath);
    const panel = existing ?? HeatmapPanel.show(services, vscode.Uri.file(imagePath), question);
    await ask.ask(panel, question);
  }

  async function openPanels(uri: vscode.Uri | undefined, uris: vscode.Uri[] | undefined, withAnswer: boolean): Promise<HeatmapPanel[]> {
    const images = await resolveImages(uri, uris);
    if (!images.length) return [];
    const question = await askQuestion(context, images);
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
    const current = vscode.workspace.getConfiguration(SECTION).get<string>('model');
    const folder = vscode.l10n.t('Local folder…');
    const other = vscode.l10n.t('Other hub id…');
    const items: vscode.QuickPickItem[] = [
      ...MODEL_PRESETS.map((p) => ({ label: p.id, description: p.id === current ? vscode.l10n.t('current') : undefined, detail: p.label })),
      { label: folder, detail: vscode.l10n.t('A folder in the Transformers.js layout (config.json, tokenizer.json, onnx/…)') },
      { label: other, detail: vscode.l10n.t('Any CLIP export on the Hugging Face hub, e.g. Xenova/clip-vit-base-patch16') },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: vscode.l10n.t('CLIP model for the heatmap') });
    if (!pick) return;
    let model: string | undefined = pick.label;
    if (pick.label === folder) {
      const dir = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: vscode.l10n.t('Use this model') });
      model = dir?.[0]?.fsPath;
    } else if (pick.label === other) {
      model = await vscode.window.showInputBox({ prompt: vscode.l10n.t('Hub id (owner/name)'), validateInput: (v) => (/^[\w.-]+\/[\w.-]+$/.test(v.trim()) ? undefined : vscode.l10n.t('Expected owner/name')) });
    }
    if (!model) return;
    await vscode.workspace.getConfiguration(SECTION).update('model', model.trim(), vscode.ConfigurationTarget.Global);
    engine.dispose();
  });
  command('reviewFolder', async (uri?: vscode.Uri) => {
    const request = await promptReview(context, uri, keys);
    if (!request) return undefined;
    try {
      const outcome = await runReview(context, engine, keys, log, request);
      if (outcome) {
        showReport(outcome);
        const summary = vscode.l10n.t('{0} done, {1} failed, {2} skipped · results in {3}', outcome.done, outcome.failed, outcome.skipped, outcome.outDir);
        void (outcome.failed ? vscode.window.showWarningMessage(summary) : vscode.window.showInformationMessage(summary));
      }
      return outcome;
    } catch (e) {
      void vscode.window.showErrorMessage((e as Error).message);
      return undefined;
    }
  });
  command('showLog', () => log.show());
  command('openSample', async () => {
    const sample = vscode.Uri.joinPath(context.extensionUri, 'media', 'examples', 'shapes.png');
    HeatmapPanel.show(services, sample, 'Where is the red square?');
  });

  context.subscriptions.push(
    vscode.window.registerWebviewViewProvider(AnswersViewProvider.viewId, answersView),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${SECTION}.model`) || e.affectsConfiguration(`${SECTION}.dtype`) || e.affectsConfiguration(`${SECTION}.engine`)) engine.dispose();
    }),
    log,
    { dispose: () => engine.dispose() },
    { dispose: () => answers.dispose() },
  );
  void vscode.commands.executeCommand('setContext', 'attentionPrompting.imageExtensions', IMAGE_EXTENSIONS.map((e) => `.${e}`));
  log.info(`activated (engine script ${context.asAbsolutePath('dist/engine.js')})`);

  return {
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
      const outcome = await runReview(context, engine, keys, log, request);
      if (outcome) showReport(outcome);
      return outcome;
    },
  };

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
