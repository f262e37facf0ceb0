/** Which images a command acts on, and the question, with a history of earlier questions. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { IMAGE_EXTENSIONS, hasImageExtension } from '../core/defaults';

const HISTORY_KEY = 'attentionPrompting.questionHistory';
const HISTORY_SIZE = 20;

export function isImage(uri: vscode.Uri): boolean {
  return hasImageExtension(uri.path);
}

/** Explorer multi-selection, else the clicked file, else the active image preview, else a file picker. */
export async function resolveImages(uri: vscode.Uri | undefined, uris: vscode.Uri[] | undefined): Promise<vscode.Uri[]> {
  let candidates = uris?.length ? uris : uri ? [uri] : [];
  if (!candidates.length) {
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    if (input instanceof vscode.TabInputCustom && input.viewType === 'imagePreview.previewEditor') candidates = [input.uri];
  }
  if (!candidates.length) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: true,
      openLabel: vscode.l10n.t('Ask about image'),
      filters: { [vscode.l10n.t('Images')]: [...IMAGE_EXTENSIONS] },
    });
    candidates = picked ?? [];
  }
  const images = candidates.filter(isImage);
  const skipped = candidates.filter((c) => !isImage(c));
  if (skipped.length) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t('Not an image this extension reads: {0}. Supported: {1}.', skipped.map((s) => path.basename(s.fsPath)).join(', '), IMAGE_EXTENSIONS.join(', ')),
    );
  }
  return images;
}

export async function askQuestion(context: vscode.ExtensionContext, images: vscode.Uri[]): Promise<string | undefined> {
  const history = context.globalState.get<string[]>(HISTORY_KEY, []);
  const pick = vscode.window.createQuickPick();
  pick.title = images.length === 1 ? vscode.l10n.t('Ask about {0}', path.basename(images[0].fsPath)) : vscode.l10n.t('Ask about {0} images', images.length);
  pick.placeholder = vscode.l10n.t('Type a question about the image (earlier questions below)');
  pick.items = history.map((label) => ({ label }));
  pick.ignoreFocusOut = true;
  const question = await new Promise<string | undefined>((resolve) => {
    pick.onDidAccept(() => {
      const value = (pick.selectedItems[0]?.label ?? pick.value).trim();
      if (!value) return; // keep the box open until there is a question
      resolve(value);
      pick.hide();
    });
    // Typing a new question must not be replaced by a highlighted history item on Enter.
    pick.onDidChangeValue((v) => {
      pick.items = [...(v.trim() && !history.includes(v.trim()) ? [{ label: v.trim(), description: vscode.l10n.t('new question') }] : []), ...history.map((label) => ({ label }))];
    });
    pick.onDidHide(() => resolve(undefined));
    pick.show();
  });
  pick.dispose();
  if (question) await context.globalState.update(HISTORY_KEY, [question, ...history.filter((h) => h !== question)].slice(0, HISTORY_SIZE));
  return question;
}
