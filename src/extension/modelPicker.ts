/**
 * The first step of both model pickers (CLIP's and the local vision-language model's): a preset,
 * a folder in the Transformers.js layout, or another hub id. Nothing is downloaded here.
 */
import * as vscode from 'vscode';

export interface ModelPickerOptions {
  presets: readonly { id: string; label: string }[];
  /** The model the setting names now, marked in the list. */
  current: string | undefined;
  title: string;
  /** What a folder must hold, and what the hub id may name. */
  folderDetail: string;
  otherDetail: string;
}

/** The chosen model (a hub id or a folder path), or undefined when the user dismissed a step. */
export async function pickModel(options: ModelPickerOptions): Promise<string | undefined> {
  const folder = vscode.l10n.t('Local folder…');
  const other = vscode.l10n.t('Other hub id…');
  const items: vscode.QuickPickItem[] = [
    ...options.presets.map((p) => ({ label: p.id, description: p.id === options.current ? vscode.l10n.t('current') : undefined, detail: p.label })),
    { label: folder, detail: options.folderDetail },
    { label: other, detail: options.otherDetail },
  ];
  const pick = await vscode.window.showQuickPick(items, { title: options.title, ignoreFocusOut: true });
  if (!pick) return undefined;
  let model: string | undefined = pick.label;
  if (pick.label === folder) {
    const dir = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: vscode.l10n.t('Use this model') });
    model = dir?.[0]?.fsPath;
  } else if (pick.label === other) {
    model = await vscode.window.showInputBox({ prompt: vscode.l10n.t('Hub id (owner/name)'), validateInput: (v) => (/^[\w.-]+\/[\w.-]+$/.test(v.trim()) ? undefined : vscode.l10n.t('Expected owner/name')) });
  }
  return model?.trim() || undefined;
}
