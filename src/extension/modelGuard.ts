/**
 * Reads the CLIP model setting when a heatmap or review needs it (never cached from activation)
 * and makes sure it never silently becomes the default (a 432 MB to 1.7 GB download, by dtype): see modelChoice.ts for why a
 * user's choice can read as the default in a remote window, and what is decided.
 */
import * as vscode from 'vscode';
import { DEFAULT_MODEL, DEFAULT_MODEL_DOWNLOAD } from '../core/defaults';
import { isFullyCached } from '../core/modelCache';
import { locateModel } from '../core/modelLocation';
import type { ModelParameters } from '../shared/protocol';
import type { ErrorCode } from '../shared/rpc';
import { SECTION, clipModelSetting, modelParameters, setClipModel } from './config';
import { decideModel } from './modelChoice';

const LAST_EXPLICIT = 'attentionPrompting.lastExplicitModel';
const CONFIRMED = 'attentionPrompting.confirmedModelDownloads';

/** A refusal the panels show as their error (the engine was never asked). */
export class ModelChoiceError extends Error {
  readonly code: ErrorCode = 'model-missing';
}

function isCached(params: ModelParameters): boolean {
  try {
    return isFullyCached(locateModel({ model: params.model, revision: params.revision, dtype: params.dtype, cacheDir: params.cacheDir }));
  } catch {
    return false;
  }
}

/** The default model's download in the dtype the settings name; where its size is not known, fp32's as the bound. */
const downloadSize = (params: ModelParameters) => {
  const known = DEFAULT_MODEL_DOWNLOAD[params.dtype];
  return known ? vscode.l10n.t('about {0}', known) : vscode.l10n.t('up to {0}', DEFAULT_MODEL_DOWNLOAD.fp32!);
};

/** The model parameters to use now; throws ModelChoiceError when nothing may be loaded. */
export async function checkedModelParameters(context: vscode.ExtensionContext): Promise<ModelParameters> {
  const params = modelParameters(context);
  const { explicitlySet } = clipModelSetting();
  if (explicitlySet && context.globalState.get(LAST_EXPLICIT) !== params.model) await context.globalState.update(LAST_EXPLICIT, params.model);
  const decision = decideModel({
    setting: { effective: params.model, explicitlySet },
    defaultModel: DEFAULT_MODEL,
    lastExplicit: context.globalState.get<string>(LAST_EXPLICIT),
    confirmedDownloads: context.globalState.get<string[]>(CONFIRMED, []),
    defaultCached: isCached(params),
  });
  if (decision.kind === 'use') return params;
  if (decision.kind === 'lost') {
    const remote = vscode.env.remoteName;
    const message = vscode.l10n.t(
      'The setting {0} reads as its default ({1}, {2} to download) although you chose {3}. Nothing was downloaded.{4}',
      `${SECTION}.clip.model`,
      decision.defaultModel,
      downloadSize(params),
      decision.previous,
      remote ? ' ' + vscode.l10n.t('In a remote window ({0}) machine settings such as this one are read from the Remote settings.', remote) : '',
    );
    const usePrevious = vscode.l10n.t('Use {0}', decision.previous);
    const useDefault = vscode.l10n.t('Use the Default');
    void vscode.window.showErrorMessage(message, usePrevious, useDefault).then(async (choice) => {
      // A Global write of a machine-scoped key goes to the remote's settings in a remote window.
      if (choice === usePrevious) await setClipModel(decision.previous);
      if (choice === useDefault) await context.globalState.update(LAST_EXPLICIT, undefined);
    });
    throw new ModelChoiceError(message);
  }
  const download = vscode.l10n.t('Download');
  const choose = vscode.l10n.t('Choose CLIP Model…');
  const choice = await vscode.window.showWarningMessage(
    vscode.l10n.t('Download the CLIP model {0} ({1}) into {2}? Smaller models: Choose CLIP Model….', decision.model, downloadSize(params), params.cacheDir),
    download,
    choose,
  );
  if (choice === download) {
    await context.globalState.update(CONFIRMED, [...context.globalState.get<string[]>(CONFIRMED, []), decision.model]);
    return params;
  }
  if (choice === choose) void vscode.commands.executeCommand(`${SECTION}.chooseModel`);
  throw new ModelChoiceError(vscode.l10n.t('No CLIP model: {0} was not downloaded.', decision.model));
}
