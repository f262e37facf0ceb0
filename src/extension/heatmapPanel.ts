/**
 * One webview panel per image: the original, the heatmap overlay and the masked image, with
 * controls that re-render from the engine's cached maps (CLIP re-runs only when the layer or
 * the hint text changes), and Ask / Save / Copy. Panels come back after a window reload
 * (HeatmapPanel.restore, from the state the webview keeps).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PANEL_HOST_CHECKS, type AttributionSummary, type PanelError, type PanelHostVocabulary, type PanelState, type PanelVocabulary, type RenderedImages, type RestoredPanel, type ViewParameters } from '../shared/protocol';
import { plainBytes } from '../shared/bytes';
import { formatBytes } from '../core/sizes';
import { errorCodeOf } from '../shared/rpc';
import { defaultView, modelParameters, previewMaxSide } from './config';
import { ModelChoiceError, checkedModelParameters } from './modelGuard';
import { ensureLocalModel } from './localModel';
import { EngineClient, EngineError } from './engineClient';
import { webviewChannel, type WebviewChannel } from './webviewChannel';
import { WEBVIEW_OPTIONS, webviewHtml } from './webviewHtml';
import { heatmapStrings } from './webviewTranslations';

export const HEATMAP_VIEW_TYPE = 'attentionPrompting.heatmap';

export interface PanelServices {
  context: vscode.ExtensionContext;
  engine: EngineClient;
  log: vscode.LogOutputChannel;
  ask(panel: HeatmapPanel, question: string): Promise<void>;
}

/** What the tests (and the ask flow) can read of a panel. */
export interface PanelSnapshot {
  imagePath: string;
  question: string;
  view: ViewParameters;
  summary?: AttributionSummary;
  images?: RenderedImages;
  error?: PanelError;
  /** Milliseconds from opening the panel to the first heatmap. */
  firstHeatmapMs?: number;
  /** Whether this panel was brought back by a window reload. */
  restored: boolean;
  /** Heatmap computations finished (successful or not). */
  computations: number;
}

export class HeatmapPanel {
  private static readonly panels = new Map<string, HeatmapPanel>();

  private view: ViewParameters;
  private summary: AttributionSummary | undefined;
  private images: RenderedImages | undefined;
  private error: PanelError | undefined;
  private busy: string | undefined;
  private rendering: Promise<void> = Promise.resolve();
  private cancelCurrent: vscode.CancellationTokenSource | undefined;
  private readonly openedAt = performance.now();
  private firstHeatmapMs: number | undefined;
  private computations = 0;
  private readonly channel: WebviewChannel<PanelHostVocabulary, PanelVocabulary>;
  private readonly heatmapEvents = new vscode.EventEmitter<PanelSnapshot>();
  readonly onDidRender = this.heatmapEvents.event;

  static all(): HeatmapPanel[] {
    return [...HeatmapPanel.panels.values()];
  }

  static find(imagePath: string): HeatmapPanel | undefined {
    return HeatmapPanel.panels.get(imagePath);
  }

  /**
   * Opens (or reveals) the panel for an image and computes its heatmap for the question; `view`
   * replaces the settings' view (a batch report row opens with its run's parameters).
   */
  static show(services: PanelServices, imageUri: vscode.Uri, question: string, view?: ViewParameters): HeatmapPanel {
    const existing = HeatmapPanel.panels.get(imageUri.fsPath);
    if (existing) {
      existing.panel.reveal(vscode.ViewColumn.Beside);
      existing.question = question;
      if (view) existing.view = view;
      void existing.compute();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(HEATMAP_VIEW_TYPE, vscode.l10n.t('Heatmap: {0}', path.basename(imageUri.fsPath)), vscode.ViewColumn.Beside, WEBVIEW_OPTIONS);
    return HeatmapPanel.adopt(services, panel, imageUri, question, view ?? defaultView(), false);
  }

  /**
   * A panel VS Code brings back after a window reload, with the state its webview kept. The state
   * comes from the webview, so it is checked like any message; a panel that cannot be restored
   * closes with a note in the log.
   */
  static restore(services: PanelServices, panel: vscode.WebviewPanel, saved: RestoredPanel): HeatmapPanel | undefined {
    const imageUri = vscode.Uri.file(saved.imagePath);
    if (HeatmapPanel.panels.has(imageUri.fsPath)) {
      panel.dispose();
      return undefined;
    }
    panel.webview.options = WEBVIEW_OPTIONS;
    services.log.info(`restoring the heatmap panel for ${saved.imagePath}`);
    return HeatmapPanel.adopt(services, panel, imageUri, saved.question, saved.view, true);
  }

  private static adopt(services: PanelServices, panel: vscode.WebviewPanel, imageUri: vscode.Uri, question: string, view: ViewParameters, restored: boolean): HeatmapPanel {
    const p = new HeatmapPanel(services, panel, imageUri, question, view, restored);
    HeatmapPanel.panels.set(imageUri.fsPath, p);
    void p.compute();
    return p;
  }

  private constructor(
    private readonly services: PanelServices,
    readonly panel: vscode.WebviewPanel,
    readonly imageUri: vscode.Uri,
    public question: string,
    view: ViewParameters,
    private readonly restored: boolean,
  ) {
    this.view = view;
    panel.title = vscode.l10n.t('Heatmap: {0}', path.basename(imageUri.fsPath));
    panel.iconPath = vscode.Uri.joinPath(services.context.extensionUri, 'media', 'icon.svg');
    this.channel = webviewChannel<PanelHostVocabulary, PanelVocabulary>(panel.webview, PANEL_HOST_CHECKS, (m) => services.log.warn(`heatmap panel ${path.basename(imageUri.fsPath)}: ${m}`));
    this.channel.endpoint
      .onNotification('ready', () => {
        this.channel.markReady();
        this.postState();
        if (this.images) this.postImages(this.images);
      })
      .onNotification('viewChanged', ({ view }) => void this.setView(view))
      .onNotification('ask', ({ question }) => {
        this.question = question.trim() || this.question;
        void this.services.ask(this, this.question);
      })
      .onNotification('save', () => void this.save())
      .onNotification('retry', () => void this.compute())
      .onNotification('showLog', () => this.services.log.show())
      .onNotification('copyFailed', ({ message }) => void vscode.window.showErrorMessage(vscode.l10n.t('Could not copy the image: {0}. Use Save instead.', message)));
    panel.webview.html = webviewHtml(services.context.extensionUri, 'heatmap.js', vscode.l10n.t('Heatmap'), heatmapStrings());
    panel.onDidDispose(() => {
      this.cancelCurrent?.cancel();
      this.channel.dispose();
      HeatmapPanel.panels.delete(imageUri.fsPath);
      this.heatmapEvents.dispose();
    });
  }

  get imagePath(): string {
    return this.imageUri.fsPath;
  }

  snapshot(): PanelSnapshot {
    return { imagePath: this.imagePath, question: this.question, view: this.view, summary: this.summary, images: this.images, error: this.error, firstHeatmapMs: this.firstHeatmapMs, restored: this.restored, computations: this.computations };
  }

  get currentSummary(): AttributionSummary | undefined {
    return this.summary;
  }

  get currentView(): ViewParameters {
    return this.view;
  }

  /** Resolves once a heatmap is available (computing one if needed); rejects with its error. */
  async heatmap(): Promise<AttributionSummary> {
    await this.rendering;
    if (!this.summary) {
      await this.compute();
      if (!this.summary) throw new EngineError(this.error?.code ?? 'internal', this.error?.message ?? vscode.l10n.t('No heatmap.'));
    }
    return this.summary;
  }

  private state(): PanelState {
    return {
      imagePath: this.imagePath,
      fileName: path.basename(this.imagePath),
      question: this.question,
      view: this.view,
      summary: this.summary,
      numLayers: this.summary?.numLayers,
      defaultLayer: this.summary ? (this.summary.defaultLayer ?? this.summary.numLayers - 2) : undefined,
      busy: this.busy,
      error: this.error,
      canAsk: vscode.workspace.isTrusted,
    };
  }

  private postState(): void {
    this.channel.endpoint.notify('state', this.state());
  }

  private postImages(images: RenderedImages): void {
    this.channel.endpoint.notify('images', { original: plainBytes(images.original), overlay: plainBytes(images.overlay), masked: plainBytes(images.masked), width: images.width, height: images.height });
  }

  private setBusy(message: string | undefined): void {
    this.busy = message;
    this.channel.endpoint.notify('busy', { message });
  }

  private fail(e: unknown, what: string): void {
    const message = e instanceof Error ? e.message : String(e);
    this.error = { code: errorCodeOf(e), message };
    this.services.log.error(`${what} ${this.imagePath}: ${message}`);
  }

  /** Runs CLIP (through the engine process) with a cancellable progress notification. */
  compute(): Promise<void> {
    this.cancelCurrent?.cancel();
    const run = this.rendering.then(() =>
      vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Attention Prompting: {0}', path.basename(this.imagePath)), cancellable: true },
        async (progress, token) => {
          const source = new vscode.CancellationTokenSource();
          this.cancelCurrent = source;
          token.onCancellationRequested(() => source.cancel());
          const controller = new AbortController();
          source.token.onCancellationRequested(() => controller.abort());
          this.error = undefined;
          // The LVLM map needs the local model: chosen now if it never was (nothing downloads before).
          const local = this.view.aux === 'lvlm' ? await ensureLocalModel(this.services.context) : undefined;
          if (this.view.aux === 'lvlm' && !local) this.view = { ...this.view, aux: 'clip', layer: null };
          this.setBusy(vscode.l10n.t('Computing the heatmap…'));
          this.postState();
          progress.report({ message: local ? vscode.l10n.t('Loading the local vision-language model…') : vscode.l10n.t('Loading the CLIP model…') });
          let lastPercent = 0;
          try {
            const result = await this.services.engine.request(
              'attribute',
              {
                imagePath: this.imagePath,
                question: this.question,
                // The LVLM map needs no CLIP model: only its geometry setting.
                model: local ? modelParameters(this.services.context) : await checkedModelParameters(this.services.context),
                view: this.view,
                local,
                previewMaxSide: previewMaxSide(),
              },
              {
                signal: controller.signal,
                onProgress: (p) => {
                  if (p.stage === 'download' && p.total && p.file) {
                    const percent = Math.floor(p.progress ?? 0);
                    progress.report({
                      message: vscode.l10n.t('Downloading {0}: {1} of {2} ({3}%)', p.file, formatBytes(p.loaded ?? 0), formatBytes(p.total), percent),
                      increment: Math.max(0, percent - lastPercent) / 2,
                    });
                    lastPercent = percent;
                    this.setBusy(vscode.l10n.t('Downloading {0} ({1}%)', p.file, percent));
                  } else if (p.stage === 'heatmap') {
                    progress.report({ message: vscode.l10n.t('Computing the heatmap…') });
                  }
                },
              },
            );
            this.summary = result.summary;
            this.images = result.images;
            this.firstHeatmapMs ??= performance.now() - this.openedAt;
            this.services.log.info(
              `heatmap ${path.basename(this.imagePath)}: ${result.summary.model} layer ${result.summary.layer}, ` +
                Object.entries(result.summary.timings).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', '),
            );
            if (result.summary.truncated) {
              void vscode.window.showWarningMessage(vscode.l10n.t('The question has {0} tokens; CLIP read only the first 77 for the heatmap.', result.summary.tokens));
            }
            this.postImages(result.images);
          } catch (e) {
            if (errorCodeOf(e) !== 'cancelled') {
              this.fail(e, 'heatmap');
              // A refused model choice has already said why, with the actions that fix it.
              if (!(e instanceof ModelChoiceError)) showEngineError(e as EngineError);
            }
          } finally {
            this.computations++;
            this.setBusy(undefined);
            this.postState();
            this.heatmapEvents.fire(this.snapshot());
            source.dispose();
          }
        },
      ),
    );
    this.rendering = run.then(() => undefined, () => undefined);
    return this.rendering;
  }

  private async rerender(): Promise<void> {
    if (!this.summary) return;
    try {
      const r = await this.services.engine.request('rerender', { attributionId: this.summary.attributionId, view: this.view, previewMaxSide: previewMaxSide() });
      this.images = r.images;
      this.postImages(r.images);
      this.heatmapEvents.fire(this.snapshot());
    } catch (e) {
      const code = errorCodeOf(e);
      // The engine may have been released while idle: recompute.
      if (code === 'expired' || code === 'engine-crashed' || code === 'engine-stopped') await this.compute();
      else if (code !== 'cancelled') {
        this.fail(e, 'rerender');
        this.postState();
      }
    }
  }

  /** Applies new control values: re-render from cached maps, or recompute if the layer or hint changed. */
  async setView(view: ViewParameters): Promise<void> {
    const needsClip = view.aux !== this.view.aux || view.layer !== this.view.layer || (view.aux === 'clip' && view.hint.trim() !== this.view.hint.trim());
    this.view = view;
    // The webview keeps the view in its state (what a window reload restores), also when the host changed it.
    this.postState();
    if (needsClip || !this.summary) await this.compute();
    else await this.rerender();
  }

  /** Saves the full-resolution masked image next to the original, never overwriting a file. */
  async save(): Promise<vscode.Uri | undefined> {
    const summary = await this.heatmap().catch(() => undefined);
    if (!summary) return undefined;
    const ext = path.extname(this.imagePath).toLowerCase();
    const format = ext === '.jpg' || ext === '.jpeg' ? 'jpeg' : 'png';
    const result = await this.services.engine.request('export', { attributionId: summary.attributionId, view: this.view, which: 'masked', format });
    const dir = path.dirname(this.imagePath);
    const stem = path.basename(this.imagePath, path.extname(this.imagePath));
    const suffix = format === 'jpeg' ? '.jpg' : '.png';
    let target = vscode.Uri.file(path.join(dir, `${stem}.attention${suffix}`));
    for (let i = 2; await exists(target); i++) target = vscode.Uri.file(path.join(dir, `${stem}.attention-${i}${suffix}`));
    await vscode.workspace.fs.writeFile(target, result.data);
    this.services.log.info(`saved ${target.fsPath}`);
    void vscode.window.showInformationMessage(vscode.l10n.t('Saved {0}', path.basename(target.fsPath)), vscode.l10n.t('Open')).then((choice) => {
      if (choice) void vscode.commands.executeCommand('vscode.open', target);
    });
    return target;
  }
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}

/** An engine error with a next step where there is one. */
export function showEngineError(err: EngineError): void {
  const openSettings = vscode.l10n.t('Open Settings');
  const chooseModel = vscode.l10n.t('Choose CLIP Model…');
  const showLog = vscode.l10n.t('Show Log');
  const actions =
    err.code === 'download-failed' || err.code === 'offline-missing' || err.code === 'model-structure' || err.code === 'model-missing'
      ? [chooseModel, openSettings]
      : err.code === 'bad-parameter'
        ? [openSettings]
        : [showLog];
  void vscode.window.showErrorMessage(err.message, ...actions).then((choice) => {
    if (choice === openSettings) void vscode.commands.executeCommand('workbench.action.openSettings', 'attentionPrompting');
    else if (choice === chooseModel) void vscode.commands.executeCommand('attentionPrompting.chooseModel');
    else if (choice === showLog) void vscode.commands.executeCommand('attentionPrompting.showLog');
  });
}
