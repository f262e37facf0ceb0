/**
 * Review Folder… and its report: the run with a progress notification, the report panel (also
 * restored after a window reload), whose rows open their image's heatmap panel and whose Re-run
 * failed resumes the run.
 */
import * as vscode from 'vscode';
import type { BatchOutcome } from '../shared/protocol';
import type { ApiKeys } from './apiKeys';
import { registerCommand } from './commands';
import { modelParameters } from './config';
import { HeatmapPanel, type PanelServices } from './heatmapPanel';
import type { LanguageModelServer } from './languageModelServer';
import { ReviewInputs, confirmRerunInput } from './rerunTrust';
import { REPORT_VIEW_TYPE, promptReview, restoreReport, reviewRequestOfRun, runReview, showReport, type ReportActions, type ReviewRequest } from './reviewFolder';

export interface ReviewServices {
  panels: PanelServices;
  keys: ApiKeys;
  languageModelServer: LanguageModelServer;
}

/** What the integration tests drive without the prompts. */
export interface Reviews {
  run(request: ReviewRequest): Promise<BatchOutcome | undefined>;
  openReport(outcome: BatchOutcome, request: ReviewRequest): void;
}

export function register(services: ReviewServices): Reviews {
  const { panels, keys, languageModelServer } = services;
  const { context, engine, log } = panels;
  const run = (request: ReviewRequest) => runReview(context, engine, keys, languageModelServer, log, request);

  registerCommand(context, 'reviewFolder', async (uri?: vscode.Uri) => {
    const request = await promptReview(context, uri, keys);
    if (!request) return undefined;
    try {
      const outcome = await run(request);
      if (outcome) {
        openReport(outcome, request);
        const summary = vscode.l10n.t('{0} done, {1} failed, {2} skipped · results in {3}', outcome.done, outcome.failed, outcome.skipped, outcome.outDir);
        void (outcome.failed ? vscode.window.showWarningMessage(summary) : vscode.window.showInformationMessage(summary));
      }
      return outcome;
    } catch (e) {
      void vscode.window.showErrorMessage((e as Error).message);
      return undefined;
    }
  });
  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel) => {
        try {
          // Row clicks need only the output folder; Re-run failed reads the run's request from it when clicked.
          const report = restoreReport(panel, (outDir) => reportActions(() => panel, () => reviewRequestOfRun(outDir)));
          log.info(`restored the review report ${report}`);
        } catch (e) {
          log.warn(`a review report could not be restored: ${(e as Error).message}`);
          panel.dispose();
        }
      },
    }),
  );

  /**
   * A run's report: a row opens its image's heatmap panel with the run's question and parameters;
   * "Re-run failed" resumes the run and replaces the report with the new one.
   */
  function openReport(outcome: BatchOutcome, request: ReviewRequest): void {
    const panel: vscode.WebviewPanel = showReport(outcome, reportActions(() => panel, () => request));
  }

  /**
   * What a report panel's clicks do, fresh or restored after a reload. `request` gives the run's
   * request when Re-run failed is clicked (a restored panel reads it from the output folder then,
   * and throws with the reason when it cannot).
   */
  function reportActions(panel: () => vscode.WebviewPanel, request: () => ReviewRequest): ReportActions {
    let rerunning = false;
    return {
      log,
      openItem: (record, view) => {
        HeatmapPanel.show(panels, vscode.Uri.file(record.image), record.question, view);
        // The panel computes with the current model settings; say so when the run used others.
        const now = modelParameters(context);
        if (record.model !== now.model || record.parameters?.geometry !== now.geometry) {
          void vscode.window.showInformationMessage(
            vscode.l10n.t('{0} was computed with {1} ({2} geometry); the heatmap panel uses the current settings: {3} ({4} geometry).', record.id, record.model, String(record.parameters?.geometry), now.model, now.geometry),
          );
        }
      },
      rerunFailed: async () => {
        if (rerunning) return;
        rerunning = true;
        try {
          const resumed = { ...request(), resume: true };
          // A restored panel's request comes from settings.json: its input must be the one this host started the run with, or confirmed.
          const input = resumed.jsonl?.fsPath ?? resumed.folder.fsPath;
          if (!(await confirmRerunInput(new ReviewInputs(context.globalState), resumed.outDir.fsPath, input, resumed.withVlm))) return;
          const next = await run(resumed);
          if (next) {
            panel().dispose();
            openReport(next, resumed);
          }
        } catch (e) {
          void vscode.window.showErrorMessage((e as Error).message);
        } finally {
          rerunning = false;
        }
      },
    };
  }

  return { run, openReport };
}
