/** The webviews' texts, translated here with vscode.l10n.t (literal calls, so the l10n tooling finds them). */
import * as vscode from 'vscode';
import type { AnswersStrings, HeatmapStrings } from '../shared/webviewStrings';

export function heatmapStrings(): HeatmapStrings {
  return {
    question: vscode.l10n.t('Question'),
    ask: vscode.l10n.t('Ask'),
    askTitle: vscode.l10n.t('Ask the vision-language model about the masked image (Ctrl+Enter)'),
    askUntrusted: vscode.l10n.t('Sending images needs a trusted workspace'),
    save: vscode.l10n.t('Save masked image'),
    saveTitle: vscode.l10n.t('Save the full-resolution masked image next to the original'),
    copy: vscode.l10n.t('Copy'),
    copyTitle: vscode.l10n.t('Copy the masked image'),
    copied: vscode.l10n.t('Copied the masked image.'),
    original: vscode.l10n.t('Original'),
    heatmap: vscode.l10n.t('Heatmap'),
    masked: vscode.l10n.t('Masked (sent to the VLM)'),
    originalAlt: vscode.l10n.t('Original image'),
    heatmapAlt: vscode.l10n.t('Heatmap overlay'),
    maskedAlt: vscode.l10n.t('Masked image'),
    controls: vscode.l10n.t('Mask parameters'),
    contrast: vscode.l10n.t('Contrast'),
    smoothness: vscode.l10n.t('Smoothness'),
    smoothnessLabel: vscode.l10n.t('Smoothness (box filter size)'),
    gray: vscode.l10n.t('Gray level'),
    interpolation: vscode.l10n.t('Interpolation'),
    lanczos: vscode.l10n.t('Lanczos'),
    cubic: vscode.l10n.t('Cubic'),
    linear: vscode.l10n.t('Linear'),
    nearest: vscode.l10n.t('Nearest'),
    layer: vscode.l10n.t('Layer'),
    layerLabel: vscode.l10n.t('CLIP layer'),
    defaultLayer: vscode.l10n.t('Default ({0})'),
    opacity: vscode.l10n.t('Overlay opacity'),
    hint: vscode.l10n.t('Hint text'),
    hintLabel: vscode.l10n.t('Hint text: compute the map from this text instead of the question'),
    hintPlaceholder: vscode.l10n.t('Optional: what the map should look for'),
    retry: vscode.l10n.t('Retry'),
    showLog: vscode.l10n.t('Show Log'),
    layerOf: vscode.l10n.t('layer {0} of {1}'),
    mapSize: vscode.l10n.t('{0} map'),
    tokens: vscode.l10n.t('{0} tokens'),
    truncated: vscode.l10n.t('(cut at 77)'),
  };
}

export function answersStrings(): AnswersStrings {
  return {
    history: vscode.l10n.t('History'),
    clear: vscode.l10n.t('Clear'),
    clearTitle: vscode.l10n.t('Clear the whole history'),
    waiting: vscode.l10n.t('waiting…'),
    answering: vscode.l10n.t('answering…'),
    failed: vscode.l10n.t('failed'),
    stopped: vscode.l10n.t('stopped'),
    off: vscode.l10n.t('off'),
    offText: vscode.l10n.t('Comparison with the original is turned off in settings.'),
    maskedImage: vscode.l10n.t('Masked image'),
    originalImage: vscode.l10n.t('Original image'),
    stop: vscode.l10n.t('Stop'),
    reask: vscode.l10n.t('Re-ask'),
    openImage: vscode.l10n.t('Open image'),
    empty: vscode.l10n.t('Right-click an image in the Explorer and choose “Ask About Image…”. Answers appear here.'),
    heatmapTime: vscode.l10n.t('heatmap {0} ms'),
  };
}
