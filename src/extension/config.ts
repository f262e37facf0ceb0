/**
 * Reads the extension's settings into the engine's and the VLM client's parameter types. Defaults
 * and bounds come from core/defaults (package.json's `contributes.configuration` is checked
 * against it). Window-scoped values can come from a repository's `.vscode/settings.json`, in
 * Restricted Mode too, so every one is clamped or replaced by its default here.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  ANSWER_SOURCES,
  type AnswerSourceKind,
  DEFAULT_DTYPE,
  DEFAULT_GEOMETRY,
  DEFAULT_MODEL,
  DEFAULT_ANSWER_SOURCE,
  DEFAULT_VLM_SETTINGS,
  DTYPES,
  GEOMETRIES,
  IDLE_MINUTES,
  IMAGE_DETAILS,
  IMAGE_FORMATS,
  OnInvalid,
  PREVIEW_MAX_SIDE,
  THREADS,
  VLM_MAX_IMAGE_SIDE,
  VLM_MAX_RETRIES,
  VLM_MAX_TOKENS,
  VLM_TEMPERATURE,
  VLM_TIMEOUT_SECONDS,
  VlmRunSettings,
  boundedNumber,
  oneOf,
  readViewSettings,
} from '../core/defaults';
import type { LocalModelParameters, ModelParameters, ViewParameters } from '../shared/protocol';

export const SECTION = 'attentionPrompting';

function cfg(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

/** Told once per distinct bad value, so the log says which setting was ignored and why. */
let reportInvalid: (message: string) => void = () => undefined;
const reported = new Set<string>();
export function onInvalidSetting(report: (message: string) => void): void {
  reportInvalid = report;
}
const invalid: OnInvalid = (name, given, used) => {
  const message = `Setting ${SECTION}.${name} = ${JSON.stringify(given)} is out of range or not valid; using ${JSON.stringify(used)}.`;
  if (reported.has(message)) return;
  reported.add(message);
  reportInvalid(message);
};

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);

export function modelParameters(context: vscode.ExtensionContext): ModelParameters {
  const c = cfg();
  const threads = boundedNumber(THREADS, c.get('engine.threads'), 'engine.threads', invalid);
  return {
    model: text(c.get('clip.model')) ?? DEFAULT_MODEL,
    dtype: oneOf(DTYPES, DEFAULT_DTYPE, c.get('clip.dtype'), 'clip.dtype', invalid),
    revision: text(c.get('clip.revision')),
    cacheDir: text(c.get('engine.modelCacheDir')) ?? path.join(context.globalStorageUri.fsPath, 'models'),
    geometry: oneOf(GEOMETRIES, DEFAULT_GEOMETRY, c.get('clip.imageGeometry'), 'clip.imageGeometry', invalid),
    threads: threads > 0 ? threads : undefined,
  };
}

export function defaultView(): ViewParameters {
  const c = cfg();
  return { ...readViewSettings((key) => c.get(key), invalid), hint: '' };
}

export function previewMaxSide(): number {
  return boundedNumber(PREVIEW_MAX_SIDE, cfg().get('heatmap.previewMaxSide'), 'heatmap.previewMaxSide', invalid);
}

export function idleMs(): number {
  return boundedNumber(IDLE_MINUTES, cfg().get('engine.idleMinutes'), 'engine.idleMinutes', invalid) * 60_000;
}

/** The value the user set (global), undefined when they set none: a workspace's value never counts. */
function userSetValue(key: string): unknown {
  return cfg().inspect(key)?.globalValue;
}

/** A user (global) value only, else the default: application-scoped settings a workspace must not redirect. */
function userValue(key: string): unknown {
  const v = cfg().inspect(key);
  return v?.globalValue ?? v?.defaultValue;
}

/** Settings the user changes through a command are written to their user settings, never a workspace's. */
function writeUserSetting(key: string, value: unknown): Thenable<void> {
  return cfg().update(key, value, vscode.ConfigurationTarget.Global);
}

/**
 * Who answers (a VS Code model, the endpoint or the local model), and whether the user chose it:
 * unset or invalid, the first ask offers the choice. The user's own value only (application scope).
 */
export function answerSourceSetting(): { value: AnswerSourceKind; explicit: boolean } {
  const chosen = userSetValue('answers.source');
  const value = oneOf(ANSWER_SOURCES, DEFAULT_ANSWER_SOURCE, chosen, 'answers.source', invalid);
  return { value, explicit: chosen !== undefined && value === chosen };
}

export function answerSourceKind(): AnswerSourceKind {
  return answerSourceSetting().value;
}

/** Saves who answers (the user's choice in the first-ask list or Choose Answer Model…). */
export function setAnswerSource(value: AnswerSourceKind): Thenable<void> {
  return writeUserSetting('answers.source', value);
}

/** The local vision-language model the user chose (their own value only), undefined before they chose one. */
export function chosenLocalModel(): string | undefined {
  return text(userValue('localModel.model'));
}

export function setLocalModel(model: string): Thenable<void> {
  return writeUserSetting('localModel.model', model);
}

/**
 * The CLIP model setting as modelGuard.ts needs it: the effective value, and whether any layer
 * sets it (a machine-scoped key can read as its default although the user chose it: modelChoice.ts).
 */
export function clipModelSetting(): { effective: string | undefined; explicitlySet: boolean } {
  const c = cfg();
  const inspected = c.inspect<string>('clip.model');
  const explicitlySet = [inspected?.globalValue, inspected?.workspaceValue, inspected?.workspaceFolderValue].some((v) => typeof v === 'string' && v.trim() !== '');
  return { effective: c.get<string>('clip.model'), explicitlySet };
}

/** Saves the CLIP model (and its weights' dtype, when chosen with it). */
export async function setClipModel(model: string, dtype?: string): Promise<void> {
  await writeUserSetting('clip.model', model);
  if (dtype !== undefined) await writeUserSetting('clip.dtype', dtype);
}

/** The settings layers the renamed-settings migration moves values in (folder layers hold no window-, machine- or application-scoped value VS Code applies). */
export type SettingsLayer = 'user' | 'workspace';
const LAYER_TARGETS: Record<SettingsLayer, vscode.ConfigurationTarget> = { user: vscode.ConfigurationTarget.Global, workspace: vscode.ConfigurationTarget.Workspace };

/** The value one layer holds for a key, undefined when it holds none (registered or not: an old key may still sit there). */
export function settingIn(layer: SettingsLayer, key: string): unknown {
  const v = cfg().inspect(key);
  return layer === 'user' ? v?.globalValue : v?.workspaceValue;
}

/** Writes (undefined: removes) a key in one layer; only the migration writes a workspace's settings. */
export function writeSettingIn(layer: SettingsLayer, key: string, value: unknown): Thenable<void> {
  return cfg().update(key, value, LAYER_TARGETS[layer]);
}

/** Whether a settings change needs a new engine process (it loaded the CLIP model with the old ones). */
export function changesEngine(e: vscode.ConfigurationChangeEvent): boolean {
  return ['clip.model', 'clip.dtype', 'engine'].some((key) => e.affectsConfiguration(`${SECTION}.${key}`));
}

/** The local vision-language model, undefined until the user has chosen one (nothing downloads before). */
export function localModelParameters(context: vscode.ExtensionContext): LocalModelParameters | undefined {
  const model = chosenLocalModel();
  if (!model) return undefined;
  const { cacheDir, threads } = modelParameters(context);
  return { model, cacheDir, threads };
}

export type VlmConfig = Omit<VlmRunSettings, 'apiKey'>;

/**
 * VLM settings are application-scoped in package.json, so a workspace cannot redirect the key
 * to another host; `inspect` is used to read only the user (global) values to be sure.
 */
export function vlmConfig(): VlmConfig {
  const user = userValue;
  const d = DEFAULT_VLM_SETTINGS;
  return {
    baseURL: text(user('answers.endpointURL')) ?? d.baseURL,
    model: text(user('answers.endpointModel')) ?? d.model,
    imageDetail: oneOf(IMAGE_DETAILS, d.imageDetail, user('answers.imageDetail'), 'answers.imageDetail', invalid),
    maxTokens: boundedNumber(VLM_MAX_TOKENS, user('answers.maxTokens'), 'answers.maxTokens', invalid),
    temperature: boundedNumber(VLM_TEMPERATURE, user('answers.temperature'), 'answers.temperature', invalid),
    systemPrompt: typeof user('answers.systemPrompt') === 'string' ? (user('answers.systemPrompt') as string) : d.systemPrompt,
    timeoutMs: boundedNumber(VLM_TIMEOUT_SECONDS, user('answers.timeoutSeconds'), 'answers.timeoutSeconds', invalid) * 1000,
    maxRetries: boundedNumber(VLM_MAX_RETRIES, user('answers.maxRetries'), 'answers.maxRetries', invalid),
    compareWithOriginal: typeof user('answers.compareWithOriginal') === 'boolean' ? (user('answers.compareWithOriginal') as boolean) : d.compareWithOriginal,
    maxImageSide: boundedNumber(VLM_MAX_IMAGE_SIDE, user('answers.maxImageSide'), 'answers.maxImageSide', invalid),
    imageFormat: oneOf(IMAGE_FORMATS, d.imageFormat, user('answers.imageFormat'), 'answers.imageFormat', invalid),
  };
}
