/**
 * The heatmap panel's ways in: Ask About Image… and Show Heatmap… (an image or a selection of
 * them), the @attention participant's button, the sample image, panels VS Code restores after a
 * window reload, and the answers side panel, whose Re-ask opens the image's panel again.
 */
import * as vscode from 'vscode';
import { checkRestoredPanel } from '../shared/protocol';
import type { AnswerRunner } from './answerRunner';
import { AnswerStore, AnswersViewProvider } from './answersView';
import { registerCommand } from './commands';
import { HEATMAP_VIEW_TYPE, HeatmapPanel, type PanelServices } from './heatmapPanel';
import { imagesForCommand } from './imageSelection';
import { promptQuestion } from './questionPrompt';

export function register(context: vscode.ExtensionContext, services: PanelServices, ask: AnswerRunner, answers: AnswerStore): void {
  const { log } = services;
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

  registerCommand(context, 'askAboutImage', (uri?: vscode.Uri, uris?: vscode.Uri[]) => openPanels(uri, uris, true));
  registerCommand(context, 'showHeatmap', (uri?: vscode.Uri, uris?: vscode.Uri[]) => openPanels(uri, uris, false));
  // The @attention participant's button (and anyone with an image and a question): the panel for them.
  registerCommand(context, 'openHeatmapFor', (uri: vscode.Uri, question: string) => {
    if (!(uri instanceof vscode.Uri) || typeof question !== 'string') return undefined;
    HeatmapPanel.show(services, uri, question);
  });
  registerCommand(context, 'openSample', async () => {
    const sample = vscode.Uri.joinPath(context.extensionUri, 'media', 'examples', 'shapes.png');
    HeatmapPanel.show(services, sample, 'Where is the red square?');
  });

  const answersView = new AnswersViewProvider(
    context.extensionUri,
    answers,
    {
      reask: (entry) => void reask(entry.imagePath, entry.question),
      stop: (entry) => ask.stop(entry.id),
      reveal: (entry) => void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(entry.imagePath)),
    },
    log,
  );
  context.subscriptions.push(
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
  );
}
