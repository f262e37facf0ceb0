/**
 * Every text of the batch report (report.html): its headings, table heads, filters, buttons and
 * labels, and the texts its script shows. The report is written by core (CLI and engine process),
 * which cannot reach vscode.l10n: the CLI writes ENGLISH_REPORT_STRINGS; the extension translates
 * the same English with vscode.l10n.t (reportStrings() in src/extension/webviewTranslations.ts) and
 * sends them with the batch request, and the engine writes them into the page. The page's script
 * reads them from a JSON island. `{0}`-style placeholders, filled by `format` (webviewStrings.ts).
 */

export interface ReportStrings {
  /** BCP 47 language of these texts, for `<html lang>`. */
  lang: string;
  title: string;
  rankedHeading: string;
  comparisonHeading: string;
  /** {0}: the metric (a `--metric` value, or metricJudge). */
  scoringNote: string;
  metricJudge: string;
  rank: string;
  setting: string;
  masked: string;
  original: string;
  bothRight: string;
  onlyMaskedRight: string;
  onlyOriginalRight: string;
  bothWrong: string;
  mcnemarP: string;
  judgeMean: string;
  /** The overall row of the comparison table. */
  allResults: string;
  /** {0}: how many. */
  unscored: string;
  /** Run line. {0}: the model id. */
  model: string;
  /** {0}: a layer, or the swept layers. */
  layer: string;
  /** {0}: a contrast, or the swept contrasts. */
  contrast: string;
  /** {0}: a kernel size, or the swept sizes. */
  kernel: string;
  /** {0}: the swept axes, e.g. "layer 20, 22; contrast 3, 5". */
  sweepOver: string;
  /** {0}: the gray level. */
  gray: string;
  /** {0}: full or reference. */
  geometry: string;
  /** {0}: the answer model, {1}: the endpoint's host. */
  vlmAt: string;
  noVlm: string;
  /** {0}: how many. */
  done: string;
  failed: string;
  skipped: string;
  missing: string;
  interrupted: string;
  /** {0}: e.g. 1/4. */
  shard: string;
  /** {0}: images per second. */
  rate: string;
  filterPlaceholder: string;
  filterLabel: string;
  statusLabel: string;
  statusAll: string;
  statusAnswered: string;
  statusFailed: string;
  settingLabel: string;
  everySetting: string;
  categoryLabel: string;
  everyCategory: string;
  outcomeAll: string;
  outcomeOnlyMasked: string;
  outcomeOnlyOriginal: string;
  outcomeBothWrong: string;
  rerunFailed: string;
  /** The results table's name for assistive technology. */
  resultsLabel: string;
  headId: string;
  headOriginal: string;
  headHeatmap: string;
  headMasked: string;
  headQuestion: string;
  headMaskedAnswer: string;
  headOriginalAnswer: string;
  headMs: string;
  /** {0}: rows shown, {1}: all rows. */
  rowCount: string;
  right: string;
  wrong: string;
  notScored: string;
  /** {0}: why the answer stopped early. */
  incomplete: string;
  /** {0}: the hint text. */
  hint: string;
  altOriginal: string;
  altOverlay: string;
  altMasked: string;
  openInPanel: string;
}

/** The report's texts outside VS Code (the CLI), and what any text a caller leaves out falls back to. */
export const ENGLISH_REPORT_STRINGS: ReportStrings = {
  lang: 'en',
  title: 'Attention Prompting report',
  rankedHeading: 'Settings ranked by masked accuracy',
  comparisonHeading: 'Masked vs original',
  scoringNote: '"Right" by {0}; accuracies with Wilson score 95% intervals; p from the exact McNemar test (two-sided) on the only-masked vs only-original counts.',
  metricJudge: 'judge (grade ≥ 0.5)',
  rank: 'rank',
  setting: 'setting',
  masked: 'masked',
  original: 'original',
  bothRight: 'both right',
  onlyMaskedRight: 'only masked right',
  onlyOriginalRight: 'only original right',
  bothWrong: 'both wrong',
  mcnemarP: 'McNemar p',
  judgeMean: 'judge mean (masked / original)',
  allResults: 'all',
  unscored: '{0} result(s) not scored (no ground truth, failed, or not graded).',
  model: 'model {0}',
  layer: 'layer {0}',
  contrast: 'contrast {0}',
  kernel: 'kernel {0}',
  sweepOver: 'sweep over {0}',
  gray: 'gray {0}',
  geometry: '{0} geometry',
  vlmAt: 'VLM {0} at {1}',
  noVlm: 'no VLM',
  done: '{0} done',
  failed: '{0} failed',
  skipped: '{0} skipped',
  missing: '{0} missing',
  interrupted: 'interrupted',
  shard: 'shard {0}',
  rate: '{0} images/s',
  filterPlaceholder: 'Filter by id, question or answer',
  filterLabel: 'Filter',
  statusLabel: 'Status',
  statusAll: 'all',
  statusAnswered: 'answered',
  statusFailed: 'failed',
  settingLabel: 'Setting',
  everySetting: 'every setting',
  categoryLabel: 'Category',
  everyCategory: 'every category',
  outcomeAll: 'all',
  outcomeOnlyMasked: 'masked right, original wrong',
  outcomeOnlyOriginal: 'masked wrong, original right',
  outcomeBothWrong: 'both wrong',
  rerunFailed: 'Re-run failed',
  resultsLabel: 'Results',
  headId: 'id',
  headOriginal: 'original',
  headHeatmap: 'heatmap',
  headMasked: 'masked',
  headQuestion: 'question',
  headMaskedAnswer: 'answer (masked)',
  headOriginalAnswer: 'answer (original)',
  headMs: 'ms',
  rowCount: '{0} of {1} rows',
  right: 'right',
  wrong: 'wrong',
  notScored: 'not scored',
  incomplete: '[incomplete: {0}]',
  hint: 'hint: {0}',
  altOriginal: 'original',
  altOverlay: 'heatmap overlay',
  altMasked: 'masked',
  openInPanel: 'Open in the heatmap panel',
};

/**
 * `strings` over the English ones, keeping only non-empty texts of known keys: what the report
 * gets may come from an older host, or (in the page) from an edited file.
 */
export function completeReportStrings(strings: unknown): ReportStrings {
  const out: ReportStrings = { ...ENGLISH_REPORT_STRINGS };
  if (!strings || typeof strings !== 'object') return out;
  for (const key of Object.keys(out) as Array<keyof ReportStrings>) {
    const value = (strings as Record<string, unknown>)[key];
    if (typeof value === 'string' && value.trim()) out[key] = value;
  }
  return out;
}
