/**
 * Choose CLIP Model…: the CLIP model for the heatmap (a preset, a folder or a hub id), then its weights
 * from the dtypes it offers, with their download sizes. The engine process restarts with them.
 */
import * as vscode from 'vscode';
import { MODEL_PRESETS } from '../core/defaults';
import { availableDtypes } from '../core/modelDtypes';
import { locateModel } from '../core/modelLocation';
import { formatBytes } from '../core/sizes';
import { registerCommand } from './commands';
import { clipModelSetting, modelParameters, setClipModel } from './config';
import type { EngineClient } from './engineClient';
import { pickModel } from './modelPicker';

export function register(context: vscode.ExtensionContext, engine: EngineClient): void {
  registerCommand(context, 'chooseModel', async () => {
    const model = await pickModel({
      presets: MODEL_PRESETS,
      current: clipModelSetting().effective,
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
    await setClipModel(model, dtypePick.label);
    engine.dispose();
  });
}
