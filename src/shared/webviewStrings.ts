/**
 * Every text the webviews show. The host fills these with vscode.l10n.t (src/extension/
 * webviewTranslations.ts), so webviews are localised by the same bundles as the rest of the extension;
 * the webview reads them from its page. `{0}`-style placeholders as in vscode.l10n.
 */

export interface HeatmapStrings {
  question: string;
  ask: string;
  askTitle: string;
  askUntrusted: string;
  save: string;
  saveTitle: string;
  copy: string;
  copyTitle: string;
  copied: string;
  original: string;
  heatmap: string;
  masked: string;
  originalAlt: string;
  heatmapAlt: string;
  maskedAlt: string;
  controls: string;
  contrast: string;
  smoothness: string;
  smoothnessLabel: string;
  gray: string;
  interpolation: string;
  lanczos: string;
  cubic: string;
  linear: string;
  nearest: string;
  layer: string;
  layerLabel: string;
  aux: string;
  auxLabel: string;
  auxClip: string;
  auxLvlm: string;
  /** The hint field's tooltip while the map comes from the local model (which reads the question itself). */
  hintUnusedLvlm: string;
  /** {0}: the default layer's index. */
  defaultLayer: string;
  opacity: string;
  hint: string;
  hintLabel: string;
  hintPlaceholder: string;
  retry: string;
  showLog: string;
  /** {0}: layer, {1}: number of layers. */
  layerOf: string;
  /** {0}: e.g. 14×14. */
  mapSize: string;
  /** {0}: token count. */
  tokens: string;
  truncated: string;
}

export interface AnswersStrings {
  history: string;
  clear: string;
  clearTitle: string;
  waiting: string;
  answering: string;
  failed: string;
  stopped: string;
  off: string;
  offText: string;
  maskedImage: string;
  originalImage: string;
  stop: string;
  reask: string;
  openImage: string;
  empty: string;
  /** {0}: milliseconds. */
  heatmapTime: string;
}

/** Fills `{0}`, `{1}`… as vscode.l10n.t does. */
export function format(template: string, ...args: Array<string | number>): string {
  return template.replace(/\{(\d+)\}/g, (m, i: string) => (Number(i) < args.length ? String(args[Number(i)]) : m));
}
