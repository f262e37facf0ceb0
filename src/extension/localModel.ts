/**
 * The local vision-language model (provider `local`, auxiliary model `lvlm`): which one, chosen by
 * the user from the presets, a folder or a hub id. Nothing is downloaded before a choice is made:
 * the setting is empty until then, and the first use asks.
 */
import * as vscode from 'vscode';
import { LVLM_PRESETS } from '../core/defaults';
import type { LocalModelParameters } from '../shared/protocol';
import { chosenLocalModel, localModelParameters, setLocalModel } from './config';
import { registerCommand } from './commands';
import { pickModel } from './modelPicker';

export function register(context: vscode.ExtensionContext): void {
  // The engine process replaces its local model when the next request names another one.
  registerCommand(context, 'chooseLocalModel', () => chooseLocalModel());
}

/** Shows the picker and saves the choice (user setting); the chosen model, or undefined if dismissed. */
export async function chooseLocalModel(): Promise<string | undefined> {
  const model = await pickModel({
    presets: LVLM_PRESETS,
    current: chosenLocalModel(),
    title: vscode.l10n.t('Local vision-language model (downloaded into the model cache on first use)'),
    folderDetail: vscode.l10n.t('A folder in the Transformers.js LLaVA layout (config.json, onnx/vision_encoder.onnx, onnx/embed_tokens.onnx, onnx/decoder_model_merged.onnx)'),
    otherDetail: vscode.l10n.t('Any LLaVA-family Transformers.js export on the Hugging Face hub'),
  });
  if (!model) return undefined;
  await setLocalModel(model);
  return model;
}

/** The local model's parameters, asking for a model first if none was chosen; undefined if the user declined. */
export async function ensureLocalModel(context: vscode.ExtensionContext): Promise<LocalModelParameters | undefined> {
  const known = localModelParameters(context);
  if (known) return known;
  if (!(await chooseLocalModel())) return undefined;
  return localModelParameters(context);
}
