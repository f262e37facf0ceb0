/** Which images a command acts on: the Explorer selection, the active image preview, or a file picker. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { IMAGE_EXTENSIONS, hasImageExtension } from '../core/defaults';

export function isImage(uri: vscode.Uri): boolean {
  return hasImageExtension(uri.path);
}

/** Explorer multi-selection, else the clicked file, else the active image preview, else a file picker. */
export async function imagesForCommand(uri: vscode.Uri | undefined, uris: vscode.Uri[] | undefined): Promise<vscode.Uri[]> {
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
  const images = candidates.filter((c) => isImage(c) && c.scheme === 'file');
  const skipped = candidates.filter((c) => !isImage(c));
  // The engine reads the path on this machine: for a git: or other virtual document that would be
  // a different file (the working copy, not the revision shown) or none.
  const notFiles = candidates.filter((c) => isImage(c) && c.scheme !== 'file');
  if (notFiles.length) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t('Not a file on this machine: {0} ({1}). Open the image file itself, or save a copy in the workspace, to ask about it.', notFiles.map((s) => path.basename(s.path)).join(', '), [...new Set(notFiles.map((s) => `${s.scheme}:`))].join(', ')),
    );
  }
  if (skipped.length) {
    void vscode.window.showWarningMessage(
      vscode.l10n.t('Not an image this extension reads: {0}. Supported: {1}.', skipped.map((s) => path.basename(s.fsPath)).join(', '), IMAGE_EXTENSIONS.join(', ')),
    );
  }
  return images;
}
