/**
 * The settings renamed when they were grouped into sections (issue 19): each old key (under
 * `attentionPrompting.`), the key it became, and whether a workspace's settings may hold it.
 * package.json keeps the old keys registered, deprecated and hidden (VS Code refuses to remove a
 * key it does not know), and settingsMigration.ts moves their values here once.
 */
export interface SettingRename {
  from: string;
  to: string;
  /** Window scope: a workspace's `.vscode/settings.json` may set it (machine and application keys are user settings only). */
  workspaceMayHold: boolean;
}

const rename = (from: string, to: string, workspaceMayHold: boolean): SettingRename => ({ from, to, workspaceMayHold });

export const SETTING_RENAMES: readonly SettingRename[] = [
  // Heatmap
  rename('aux', 'heatmap.auxiliaryModel', true),
  rename('layer', 'heatmap.layer', true),
  rename('contrast', 'heatmap.contrast', true),
  rename('kernel', 'heatmap.smoothingKernel', true),
  rename('gray', 'heatmap.grayLevel', true),
  rename('interpolation', 'heatmap.maskInterpolation', true),
  rename('overlayOpacity', 'heatmap.overlayOpacity', true),
  rename('previewMaxSide', 'heatmap.previewMaxSide', true),
  // CLIP model
  rename('model', 'clip.model', false),
  rename('dtype', 'clip.dtype', false),
  rename('revision', 'clip.revision', false),
  rename('geometry', 'clip.imageGeometry', true),
  // Answers
  rename('vlm.provider', 'answers.source', false),
  rename('vlm.baseURL', 'answers.endpointURL', false),
  rename('vlm.model', 'answers.endpointModel', false),
  rename('vlm.imageDetail', 'answers.imageDetail', false),
  rename('vlm.maxTokens', 'answers.maxTokens', false),
  rename('vlm.temperature', 'answers.temperature', false),
  rename('vlm.systemPrompt', 'answers.systemPrompt', false),
  rename('vlm.compareWithOriginal', 'answers.compareWithOriginal', false),
  rename('vlm.timeoutSeconds', 'answers.timeoutSeconds', false),
  rename('vlm.maxRetries', 'answers.maxRetries', false),
  rename('vlm.maxImageSide', 'answers.maxImageSide', false),
  rename('vlm.imageFormat', 'answers.imageFormat', false),
  // Local model
  rename('vlm.localModel', 'localModel.model', false),
  // Engine (engine.threads and engine.idleMinutes kept their names)
  rename('modelCacheDir', 'engine.modelCacheDir', false),
];
