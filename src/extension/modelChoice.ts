/**
 * Whether the CLIP model the settings name may be used right now, or whether a large download of
 * the default model would happen that the user never chose. No `vscode` import: unit-tested.
 *
 * Why the setting can read as its default although the user set it: `attentionPrompting.clip.model` is
 * `machine`-scoped. In a remote window (Remote-SSH, WSL, containers, code-server and other web
 * hosts) VS Code reads machine-scoped settings from the remote's settings; the local user settings
 * are filtered to LOCAL_MACHINE_SCOPES (application, window, resource). A machine-scoped key in
 * the local user settings survives that filter only while its schema is unregistered, so it reads
 * as set until the local user settings are parsed again after the extension's configuration is
 * registered — on any write to them, or a file-watcher reload that comes late on a busy machine —
 * and as its default from then on (VS Code's configurationService.ts
 * getLocalUserConfigurationScopes, configurationModels.ts shouldInclude).
 */

export interface ModelSettingView {
  /** The effective value (`get`): the default when no layer sets it. */
  effective: string | undefined;
  /** Whether any settings layer sets the key (`inspect`: user local/remote, workspace, folder). */
  explicitlySet: boolean;
}

export type ModelDecision =
  | { kind: 'use'; model: string }
  /** Reads as the default, but the user chose `previous` earlier: never fall back silently. */
  | { kind: 'lost'; defaultModel: string; previous: string }
  /** The default, never chosen or confirmed and not on disk: ask before downloading it. */
  | { kind: 'confirm-download'; model: string };

export interface ModelChoiceInputs {
  setting: ModelSettingView;
  defaultModel: string;
  /** The last model the user set explicitly (remembered across sessions). */
  lastExplicit: string | undefined;
  /** Models whose download the user confirmed. */
  confirmedDownloads: readonly string[];
  /** Whether the default's files are already in the cache (then nothing is downloaded). */
  defaultCached: boolean;
}

export function decideModel(i: ModelChoiceInputs): ModelDecision {
  const value = i.setting.effective?.trim() || i.defaultModel;
  if (i.setting.explicitlySet || value !== i.defaultModel) return { kind: 'use', model: value };
  if (i.lastExplicit && i.lastExplicit !== i.defaultModel) return { kind: 'lost', defaultModel: i.defaultModel, previous: i.lastExplicit };
  if (i.defaultCached || i.confirmedDownloads.includes(value)) return { kind: 'use', model: value };
  return { kind: 'confirm-download', model: value };
}
