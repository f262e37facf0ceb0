/**
 * The local vision-language model (provider `local`, auxiliary model `lvlm`): which one, chosen by
 * the user from the presets, a folder or a hub id. Nothing is downloaded before a choice is made:
 * the setting is empty until then, and the first use asks.
 */
import * as vscode from 'vscode';
import { LVLM_PRESETS } from '../core/defaults';
import type { LocalModelParameters } from '../shared/protocol';
import { SECTION, localModelParameters } from './config';

/** Shows the picker and saves the choice (user setting); the chosen model, or undefined if dismissed. */
export async function chooseLocalModel(): Promise<string | undefined> {
  const current = vscode.workspace.getConfiguration(SECTION).inspect<string>('vlm.localModel')?.globalValue;
  const folder = vscode.l10n.t('Local folder…');
  const other = vscode.l10n.t('Other hub id…');
  const items: vscode.QuickPickItem[] = [
    ...LVLM_PRESETS.map((p) => ({ label: p.id, description: p.id === current ? vscode.l10n.t('current') : undefined, detail: p.label })),
    { label: folder, detail: vscode.l10n.t('A folder in the Transformers.js LLaVA layout (config.json, onnx/vision_encoder.onnx, onnx/embed_tokens.onnx, onnx/decoder_model_merged.onnx)') },
    { label: other, detail: vscode.l10n.t('Any LLaVA-family Transformers.js export on the Hugging Face hub') },
  ];
  const pick = await vscode.window.showQuickPick(items, {
    title: vscode.l10n.t('Local vision-language model (downloaded into the model cache on first use)'),
    ignoreFocusOut: true,
  });
  if (!pick) return undefined;
  let model: string | undefined = pick.label;
  if (pick.label === folder) {
    const dir = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: vscode.l10n.t('Use this model') });
    model = dir?.[0]?.fsPath;
  } else if (pick.label === other) {
    model = await vscode.window.showInputBox({ prompt: vscode.l10n.t('Hub id (owner/name)'), validateInput: (v) => (/^[\w.-]+\/[\w.-]+$/.test(v.trim()) ? undefined : vscode.l10n.t('Expected owner/name')) });
  }
  if (!model?.trim()) return undefined;
  await vscode.workspace.getConfiguration(SECTION).update('vlm.localModel', model.trim(), vscode.ConfigurationTarget.Global);
  return model.trim();
}

/** The local model's parameters, asking for a model first if none was chosen; undefined if the user declined. */
export async function ensureLocalModel(context: vscode.ExtensionContext): Promise<LocalModelParameters | undefined> {
  const known = localModelParameters(context);
  if (known) return known;
  if (!(await chooseLocalModel())) return undefined;
  return localModelParameters(context);
}
