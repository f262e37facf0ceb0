/**
 * Review Folder…: a batch run over a dataset folder (or a JSONL file of questions) in the engine
 * process, with a cancellable progress notification; results go to a folder the user chose
 * (never inside the dataset unasked), and the report opens in a webview.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { WEBVIEW_RESOURCE_ORIGIN } from '../core/batch/report';
import { BATCH_CONCURRENCY } from '../core/defaults';
import { readResults, type ResultRecord } from '../core/batch/results';
import { SETTINGS_FILE, readRunSettings, reviewOfRun, type ReviewOfRun } from '../core/batch/runSettings';
import { REPORT_HOST_CHECKS, checkView, type BatchOutcome, type BatchParams, type ReportHostVocabulary, type ReportVocabulary, type ViewParameters } from '../shared/protocol';
import { errorCodeOf } from '../shared/rpc';
import { ApiKeys } from './apiKeys';
import { defaultView, modelParameters } from './config';
import { ensureLocalModel } from './localModel';
import type { EngineClient } from './engineClient';
import { checkedModelParameters } from './modelGuard';
import { webviewChannel } from './webviewChannel';
import { answerSourcePreview, readyAnswerSource } from './answerSource';
import type { LanguageModelServer } from './languageModelServer';
import { ReviewInputs } from './rerunTrust';
import { reportStrings } from './webviewTranslations';

export interface ReviewRequest {
  folder: vscode.Uri;
  /** A question for every image, or a JSONL file of items. */
  question?: string;
  jsonl?: vscode.Uri;
  outDir: vscode.Uri;
  withVlm: boolean;
  resume?: boolean;
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Asks for everything a review needs; undefined if the user cancels. */
export async function promptReview(context: vscode.ExtensionContext, folder: vscode.Uri | undefined, keys: ApiKeys): Promise<ReviewRequest | undefined> {
  const dataset =
    folder ??
    (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: vscode.l10n.t('Review this folder') }))?.[0];
  if (!dataset) return undefined;

  const jsonlItem = { label: vscode.l10n.t('$(file) Use a JSONL file of questions…'), detail: vscode.l10n.t('One {"id"?, "image", "question", "hint"?} per line') };
  const pick = await vscode.window.showQuickPick([jsonlItem], {
    title: vscode.l10n.t('Review {0}', path.basename(dataset.fsPath)),
    placeHolder: vscode.l10n.t('Type the question to ask about every image, or choose a JSONL file'),
    ignoreFocusOut: true,
    matchOnDescription: false,
  });
  let question: string | undefined;
  let jsonl: vscode.Uri | undefined;
  if (pick === jsonlItem) {
    jsonl = (await vscode.window.showOpenDialog({ canSelectMany: false, defaultUri: dataset, filters: { JSONL: ['jsonl'] } }))?.[0];
    if (!jsonl) return undefined;
  } else {
    question = await vscode.window.showInputBox({ title: vscode.l10n.t('Question for every image'), ignoreFocusOut: true, validateInput: (v) => (v.trim() ? undefined : vscode.l10n.t('Type a question')) });
    if (!question) return undefined;
  }

  let withVlm = false;
  if (vscode.workspace.isTrusted) {
    // Where answers would go, said before anything is sent (the source itself is resolved when the run starts).
    const where = await answerSourcePreview(keys);
    const send = {
      label: vscode.l10n.t('Masks and answers'),
      detail:
        where.kind === 'local'
          ? vscode.l10n.t('Answers from the local vision-language model; nothing leaves this machine')
          : where.kind === 'vscode'
            ? vscode.l10n.t('Sends every image to the VS Code language model you choose (Choose Answer Model…)')
            : vscode.l10n.t('Sends every image to {0}', where.host),
      vlm: true,
    };
    const local = { label: vscode.l10n.t('Masks only'), detail: vscode.l10n.t('Nothing leaves this machine'), vlm: false };
    const mode = await vscode.window.showQuickPick([send, local], { title: vscode.l10n.t('What should the review produce?'), ignoreFocusOut: true });
    if (!mode) return undefined;
    withVlm = mode.vlm;
    if (withVlm && where.kind === 'openai' && !where.hasKey) {
      void vscode.window.showErrorMessage(vscode.l10n.t('No API key for {0}. Set one first, or choose Masks only.', where.host));
      return undefined;
    }
  }

  const chosen = (await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    defaultUri: vscode.Uri.file(path.dirname(dataset.fsPath)),
    openLabel: vscode.l10n.t('Save results here'),
    title: vscode.l10n.t('Where should the review results go?'),
  }))?.[0];
  if (!chosen) return undefined;
  if (isInside(chosen.fsPath, dataset.fsPath)) {
    const ok = vscode.l10n.t('Write inside the dataset');
    const choice = await vscode.window.showWarningMessage(vscode.l10n.t('{0} is inside the dataset folder; results would be mixed with your images.', chosen.fsPath), ok, vscode.l10n.t('Cancel'));
    if (choice !== ok) return undefined;
  }
  // A folder holding an earlier run can be resumed; otherwise results go into a new subfolder.
  if (fs.existsSync(path.join(chosen.fsPath, 'results.jsonl'))) {
    const resume = vscode.l10n.t('Resume');
    const fresh = vscode.l10n.t('New run in a subfolder');
    const choice = await vscode.window.showQuickPick([resume, fresh], { title: vscode.l10n.t('This folder holds an earlier run') });
    if (!choice) return undefined;
    if (choice === resume) return { folder: dataset, question, jsonl, outDir: chosen, withVlm, resume: true };
  }
  const stamp = new Date().toISOString().replace(/[:T]/g, '-').slice(0, 19);
  const outDir = vscode.Uri.file(path.join(chosen.fsPath, `review-${path.basename(dataset.fsPath)}-${stamp}`));
  return { folder: dataset, question, jsonl, outDir, withVlm };
}

export async function runReview(context: vscode.ExtensionContext, engine: EngineClient, keys: ApiKeys, languageModelServer: LanguageModelServer, log: vscode.LogOutputChannel, req: ReviewRequest): Promise<BatchOutcome | undefined> {
  const view = defaultView();
  // Who answers, made ready as for Ask (answerSource.ts): trust, key, host consent, a chosen local model.
  const source = req.withVlm ? await readyAnswerSource(context, keys, log) : undefined;
  if (req.withVlm && !source) return undefined;
  // The local model answers (source local) and/or maps (auxiliary model lvlm): chosen first if it never was.
  const local = source?.kind === 'local' ? source.local : view.aux === 'lvlm' ? await ensureLocalModel(context) : undefined;
  if (view.aux === 'lvlm' && !local) return undefined;
  const params: BatchParams = {
    input: req.jsonl?.fsPath ?? req.folder.fsPath,
    question: req.question,
    outDir: req.outDir.fsPath,
    resume: !!req.resume,
    // LVLM maps need no CLIP model.
    model: view.aux === 'lvlm' ? modelParameters(context) : await checkedModelParameters(context),
    view,
    concurrency: BATCH_CONCURRENCY,
    vlm: source?.settings,
    ...(source ? { answerSource: source.kind } : {}),
    // The engine asks this host for each answer of a VS Code model (only here is vscode.lm); no key leaves it.
    ...(source?.kind === 'vscode' ? { vscodeModel: source.label } : {}),
    local,
    reportStrings: reportStrings(),
  };
  const answeredBy = source ? ` (${source.kind} ${source.label.model}, ${source.label.where})` : ' (masks only)';
  // The trust anchor for a later Re-run failed: settings.json in the folder can be edited, this cannot.
  await new ReviewInputs(context.globalState).remember(params.outDir, params.input);
  log.info(`review ${params.input} → ${params.outDir}${answeredBy}${view.aux === 'lvlm' ? `, LVLM maps from ${local?.model}` : ''}`);
  const run = () => withReviewProgress(engine, log, req, params);
  return source?.kind === 'vscode' ? languageModelServer.serve(source.model, run) : run();
}

async function withReviewProgress(engine: EngineClient, log: vscode.LogOutputChannel, req: ReviewRequest, params: BatchParams): Promise<BatchOutcome | undefined> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Reviewing {0}', path.basename(req.folder.fsPath)), cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      token.onCancellationRequested(() => controller.abort());
      let last = 0;
      try {
        const outcome = await engine.request('batch', params, {
          signal: controller.signal,
          onProgress: (p) => {
            if (p.stage !== 'batch' || !p.total) return;
            const finished = (p.done ?? 0) + (p.failed ?? 0) + (p.skipped ?? 0);
            const percent = (finished / p.total) * 100;
            progress.report({ message: vscode.l10n.t('{0}/{1} · {2} failed · {3} images/s', finished, p.total, p.failed ?? 0, (p.rate ?? 0).toFixed(1)), increment: percent - last });
            last = percent;
          },
        });
        log.info(`review finished: ${outcome.done} done, ${outcome.failed} failed, ${outcome.skipped} skipped`);
        return outcome;
      } catch (e) {
        if (errorCodeOf(e) === 'cancelled') {
          void vscode.window.showInformationMessage(vscode.l10n.t('Review stopped. Run Review Folder… again and choose {0} to resume.', req.outDir.fsPath));
          return undefined;
        }
        throw e;
      }
    },
  );
}

/** What a click in the report does in VS Code. */
export interface ReportActions {
  /** A row: its image in the heatmap panel, with that run's question and parameters (`view`, checked). */
  openItem(record: ResultRecord, view: ViewParameters): void;
  /** "Re-run failed": resume the run (failed items are redone). */
  rerunFailed(): Promise<void>;
  log: vscode.LogOutputChannel;
}

/** The result line of an item (and sweep setting), read again from the run's results.jsonl. */
export async function findResult(outDir: string, id: string, setting: string | undefined): Promise<ResultRecord | undefined> {
  for await (const r of readResults(path.join(outDir, 'results.jsonl'))) if (r.id === id && r.setting === setting) return r;
  return undefined;
}

/**
 * The heatmap view a result was made with, over `base` (opacity is not a run parameter). The
 * results file may have been edited, so the view is checked like a webview message; a bad field
 * throws naming it.
 */
export function resultView(r: ResultRecord, base: ViewParameters): ViewParameters {
  const p = (r.parameters ?? {}) as Partial<ResultRecord['parameters']>;
  return checkView({ ...base, contrast: p.contrast, kernel: p.kernel, gray: p.gray, interpolation: p.interpolation, layer: r.layer, hint: r.hint ?? '' }, 'result');
}

async function openResult(outDir: string, id: string, setting: string | undefined, actions: ReportActions): Promise<void> {
  const results = path.join(outDir, 'results.jsonl');
  try {
    const record = await findResult(outDir, id, setting);
    if (!record) {
      void vscode.window.showErrorMessage(vscode.l10n.t('{0} is no longer in {1}.', setting ? `${id} (${setting})` : id, results));
      return;
    }
    if (typeof record.image !== 'string' || typeof record.question !== 'string') throw new Error(vscode.l10n.t('its line has no image or question'));
    actions.openItem(record, resultView(record, defaultView()));
  } catch (e) {
    void vscode.window.showErrorMessage(vscode.l10n.t('Cannot open {0} from {1}: {2}', id, results, (e as Error).message));
  }
}

export const REPORT_VIEW_TYPE = 'attentionPrompting.report';

/**
 * The report panel's options. Its one resource root is the run's output folder, also when the
 * report links nothing (its CSP then admits data: images only, so nothing loads from there):
 * VS Code keeps a panel's options across a window reload, and that is how the restored panel
 * knows which report.html to show again and which results.jsonl its rows open. The report is the
 * unchanged file, so it cannot keep that in its webview state as the heatmap panel does.
 */
function reportOptions(outDir: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [outDir] };
}

const reportTitle = (outDir: vscode.Uri) => vscode.l10n.t('Review: {0}', path.basename(outDir.fsPath));

/**
 * The report in a webview, from the same bytes as in a browser: the page carries its own CSP (its
 * script and style admitted by hash). A large report links the thumbnails beside it; only then
 * does a <base> after the CSP (the one base that CSP admits) resolve the relative paths against
 * the output folder. What the page sends comes over the typed channel (shared/protocol.ts
 * ReportHostVocabulary), every field checked.
 */
function showReportIn(panel: vscode.WebviewPanel, outDir: vscode.Uri, reportFile: string, actions: ReportActions | undefined): void {
  let html = fs.readFileSync(reportFile, 'utf8');
  if (html.includes(`base-uri ${WEBVIEW_RESOURCE_ORIGIN}`)) {
    const base = `<base href="${`${panel.webview.asWebviewUri(outDir).toString()}/`.replace(/"/g, '%22')}">`;
    html = html.replace(/(<meta http-equiv="Content-Security-Policy"[^>]*>)/, `$1${base}`);
  }
  panel.webview.options = reportOptions(outDir);
  panel.title = reportTitle(outDir);
  if (actions) {
    const channel = webviewChannel<ReportHostVocabulary, ReportVocabulary>(panel.webview, REPORT_HOST_CHECKS, (m) => actions.log.warn(m));
    // The host sends nothing to the report, so nothing waits for it to be ready.
    channel.markReady();
    channel.endpoint
      .onNotification('openItem', ({ id, setting }) => void openResult(outDir.fsPath, id, setting, actions))
      .onNotification('rerunFailed', () => void actions.rerunFailed());
    panel.onDidDispose(() => channel.dispose());
  }
  panel.webview.html = html;
}

export function showReport(outcome: BatchOutcome, actions?: ReportActions): vscode.WebviewPanel {
  const outDir = vscode.Uri.file(outcome.outDir);
  const panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, reportTitle(outDir), vscode.ViewColumn.Active, reportOptions(outDir));
  showReportIn(panel, outDir, outcome.report, actions);
  return panel;
}

/**
 * A report panel VS Code brings back after a window reload: the report is read again from the
 * output folder its options name (it may have changed since: a resumed run rewrites it), and
 * `actionsFor` that folder answers its clicks as in a fresh panel. Throws with a one-line reason
 * when there is no report to show.
 */
export function restoreReport(panel: vscode.WebviewPanel, actionsFor?: (outDir: vscode.Uri) => ReportActions): string {
  const outDir = panel.webview.options.localResourceRoots?.[0];
  if (!outDir || outDir.scheme !== 'file') throw new Error('the panel does not name its output folder');
  const report = path.join(outDir.fsPath, 'report.html');
  try {
    showReportIn(panel, outDir, report, actionsFor?.(outDir));
  } catch (e) {
    throw new Error(`${report} cannot be shown (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return report;
}

/**
 * The request of the Review Folder… run whose results are in `outDir`, from the settings.json the
 * run wrote there (no key is in it: the endpoint's key is looked up again when the run resumes).
 * Throws with what to do instead when the folder cannot say.
 */
export function reviewRequestOfRun(outDir: vscode.Uri): ReviewRequest {
  const file = path.join(outDir.fsPath, SETTINGS_FILE);
  // With no settings to read, the user can still resume the run by naming it again.
  const instead = vscode.l10n.t('Run Review Folder… on the dataset and choose {0} to resume it.', outDir.fsPath);
  let recorded: ReturnType<typeof readRunSettings>;
  try {
    recorded = readRunSettings(outDir.fsPath);
  } catch (e) {
    throw new Error(`${(e as Error).message} ${instead}`);
  }
  if (!recorded) throw new Error(vscode.l10n.t('Re-run failed needs {0}, which is gone.', file) + ' ' + instead);
  let review: ReviewOfRun;
  try {
    review = reviewOfRun(recorded.settings);
  } catch (e) {
    throw new Error(vscode.l10n.t('Re-run failed cannot resume {0} here: {1}.', outDir.fsPath, (e as Error).message.replace(/\.$/, '')));
  }
  const input = vscode.Uri.file(review.input);
  return review.jsonl
    ? { folder: vscode.Uri.file(path.dirname(review.input)), jsonl: input, question: review.question, outDir, withVlm: review.withVlm }
    : { folder: input, question: review.question, outDir, withVlm: review.withVlm };
}
