/**
 * One webview panel per image: the original, the heatmap overlay and the masked image, with
 * controls that re-render from the engine's cached maps (CLIP re-runs only when the layer or
 * the hint text changes), and Ask / Save / Copy.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AttributionSummary, EngineResult, HostToPanel, PanelState, PanelToHost, RenderedImages, ViewParameters } from '../shared/protocol';
import { isMessage } from '../shared/protocol';
import { defaultView, modelParameters, previewMaxSide } from './config';
import { EngineClient, EngineError } from './engineClient';
import { webviewHtml, webviewRoots } from './webviewHtml';

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
  error?: string;
  /** Milliseconds from opening the panel to the first heatmap. */
  firstHeatmapMs?: number;
}

function dataUrl(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}

function formatMB(n: number): string {
  return (n / 1e6).toFixed(n < 1e7 ? 1 : 0);
}

export class HeatmapPanel {
  private static readonly panels = new Map<string, HeatmapPanel>();
  private static readonly opened = new vscode.EventEmitter<HeatmapPanel>();
  static readonly onDidOpen = HeatmapPanel.opened.event;

  private view: ViewParameters = defaultView();
  private summary: AttributionSummary | undefined;
  private images: RenderedImages | undefined;
  private error: string | undefined;
  private busy: string | undefined;
  private rendering: Promise<void> = Promise.resolve();
  private cancelCurrent: vscode.CancellationTokenSource | undefined;
  private readonly openedAt = performance.now();
  private firstHeatmapMs: number | undefined;
  private readonly ready: Promise<void>;
  private readonly heatmapEvents = new vscode.EventEmitter<PanelSnapshot>();
  readonly onDidRender = this.heatmapEvents.event;

  static all(): HeatmapPanel[] {
    return [...HeatmapPanel.panels.values()];
  }

  static find(imagePath: string): HeatmapPanel | undefined {
    return HeatmapPanel.panels.get(imagePath);
  }

  /** Opens (or reveals) the panel for an image and computes its heatmap for the question. */
  static show(services: PanelServices, imageUri: vscode.Uri, question: string): HeatmapPanel {
    const existing = HeatmapPanel.panels.get(imageUri.fsPath);
    if (existing) {
      existing.panel.reveal(vscode.ViewColumn.Beside);
      existing.question = question;
      void existing.compute();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel('attentionPrompting.heatmap', vscode.l10n.t('Heatmap: {0}', path.basename(imageUri.fsPath)), vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: webviewRoots(services.context.extensionUri),
    });
    const p = new HeatmapPanel(services, panel, imageUri, question);
    HeatmapPanel.panels.set(imageUri.fsPath, p);
    HeatmapPanel.opened.fire(p);
    void p.compute();
    return p;
  }

  private constructor(
    private readonly services: PanelServices,
    readonly panel: vscode.WebviewPanel,
    readonly imageUri: vscode.Uri,
    public question: string,
  ) {
    panel.iconPath = vscode.Uri.joinPath(services.context.extensionUri, 'media', 'icon.svg');
    let markReady: () => void = () => undefined;
    this.ready = new Promise((r) => (markReady = r));
    panel.webview.html = webviewHtml(panel.webview, services.context.extensionUri, 'heatmap.js', vscode.l10n.t('Heatmap'));
    panel.webview.onDidReceiveMessage((m: unknown) => {
      if (isMessage<PanelToHost>(m, ['ready'])) {
        markReady();
        this.postState();
        if (this.images) this.postImages(this.images);
      } else {
        void this.onMessage(m);
      }
    });
    panel.onDidDispose(() => {
      this.cancelCurrent?.cancel();
      HeatmapPanel.panels.delete(imageUri.fsPath);
      this.heatmapEvents.dispose();
    });
  }

  get imagePath(): string {
    return this.imageUri.fsPath;
  }

  snapshot(): PanelSnapshot {
    return { imagePath: this.imagePath, question: this.question, view: this.view, summary: this.summary, images: this.images, error: this.error, firstHeatmapMs: this.firstHeatmapMs };
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
      if (!this.summary) throw new Error(this.error ?? vscode.l10n.t('No heatmap.'));
    }
    return this.summary;
  }

  private state(): PanelState {
    return {
      fileName: path.basename(this.imagePath),
      question: this.question,
      view: this.view,
      summary: this.summary,
      numLayers: this.summary?.numLayers,
      defaultLayer: this.summary ? this.summary.numLayers - 2 : undefined,
      busy: this.busy,
      error: this.error,
      canAsk: vscode.workspace.isTrusted,
    };
  }

  private post(message: HostToPanel): void {
    void this.ready.then(() => this.panel.webview.postMessage(message));
  }

  private postState(): void {
    this.post({ type: 'state', state: this.state() });
  }

  private postImages(images: RenderedImages): void {
    this.post({ type: 'images', images: { original: dataUrl(images.original), overlay: dataUrl(images.overlay), masked: dataUrl(images.masked), width: images.width, height: images.height } });
  }

  private setBusy(message: string | undefined): void {
    this.busy = message;
    this.post({ type: 'busy', message });
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
          this.setBusy(vscode.l10n.t('Computing the heatmap…'));
          progress.report({ message: vscode.l10n.t('Loading the CLIP model…') });
          let lastPercent = 0;
          try {
            const result = (await this.services.engine.request(
              'attribute',
              { imagePath: this.imagePath, question: this.question, model: modelParameters(this.services.context), view: this.view, previewMaxSide: previewMaxSide() },
              {
                signal: controller.signal,
                onProgress: (p) => {
                  if (p.stage === 'download' && p.total && p.file) {
                    const percent = Math.floor(p.progress ?? 0);
                    progress.report({
                      message: vscode.l10n.t('Downloading {0}: {1} of {2} MB ({3}%)', p.file, formatMB(p.loaded ?? 0), formatMB(p.total), percent),
                      increment: Math.max(0, percent - lastPercent) / 2,
                    });
                    lastPercent = percent;
                    this.setBusy(vscode.l10n.t('Downloading {0} ({1}%)', p.file, percent));
                  } else if (p.stage === 'heatmap') {
                    progress.report({ message: vscode.l10n.t('Computing the heatmap…') });
                  }
                },
              },
            )) as Extract<EngineResult, { summary: AttributionSummary; images: RenderedImages }>;
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
            const err = e as EngineError;
            if (err.code !== 'cancelled') {
              this.error = err.message;
              this.services.log.error(`heatmap ${this.imagePath}: ${err.message}`);
              this.post({ type: 'error', message: err.message });
              showEngineError(err);
            }
          } finally {
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
      const r = (await this.services.engine.request('rerender', { attributionId: this.summary.attributionId, view: this.view, previewMaxSide: previewMaxSide() })) as { images: RenderedImages };
      this.images = r.images;
      this.postImages(r.images);
      this.heatmapEvents.fire(this.snapshot());
    } catch (e) {
      // The engine may have been released while idle: recompute.
      if ((e as EngineError).code === 'expired' || (e as EngineError).code === 'engine-crashed') await this.compute();
      else this.post({ type: 'error', message: (e as Error).message });
    }
  }

  /** Applies new control values: re-render from cached maps, or recompute if the layer or hint changed. */
  async setView(view: ViewParameters): Promise<void> {
    const needsClip = view.layer !== this.view.layer || view.hint.trim() !== this.view.hint.trim();
    this.view = view;
    if (needsClip || !this.summary) await this.compute();
    else await this.rerender();
  }

  private async onMessage(m: unknown): Promise<void> {
    if (!isMessage<PanelToHost>(m, ['viewChanged', 'ask', 'save', 'copyFailed'])) return;
    switch (m.type) {
      case 'viewChanged':
        await this.setView(m.view);
        break;
      case 'ask':
        this.question = m.question.trim() || this.question;
        await this.services.ask(this, this.question);
        break;
      case 'save':
        await this.save();
        break;
      case 'copyFailed':
        void vscode.window.showErrorMessage(vscode.l10n.t('Could not copy the image: {0}. Use Save instead.', m.message));
        break;
    }
  }

  /** Saves the full-resolution masked image next to the original, never overwriting a file. */
  async save(): Promise<vscode.Uri | undefined> {
    const summary = await this.heatmap().catch(() => undefined);
    if (!summary) return undefined;
    const ext = path.extname(this.imagePath).toLowerCase();
    const format = ext === '.jpg' || ext === '.jpeg' ? 'jpeg' : 'png';
    const result = (await this.services.engine.request('export', { attributionId: summary.attributionId, view: this.view, which: 'masked', format })) as { data: Uint8Array };
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
  const chooseModel = vscode.l10n.t('Choose Model…');
  const retry = vscode.l10n.t('Show Log');
  const actions =
    err.code === 'download-failed' || err.code === 'offline-missing' || err.code === 'model-structure' || err.code === 'model-missing'
      ? [chooseModel, openSettings]
      : err.code === 'bad-parameter'
        ? [openSettings]
        : [retry];
  void vscode.window.showErrorMessage(err.message, ...actions).then((choice) => {
    if (choice === openSettings) void vscode.commands.executeCommand('workbench.action.openSettings', 'attentionPrompting');
    else if (choice === chooseModel) void vscode.commands.executeCommand('attentionPrompting.chooseModel');
    else if (choice === retry) void vscode.commands.executeCommand('attentionPrompting.showLog');
  });
}
