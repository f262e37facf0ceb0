/** The integration tests' way in: a command registered only when the test environment asks for it (never part of activate's return value). */
import type * as vscode from 'vscode';
import type { AnswerEntry, BatchOutcome, ViewParameters } from '../shared/protocol';
import type { EngineClient } from './engineClient';
import type { AnswerStore } from './answersView';
import type { PanelSnapshot } from './heatmapPanel';
import type { ReviewRequest } from './reviewFolder';

export const TEST_HOOKS_COMMAND = 'attentionPrompting.testHooks';
export const TEST_HOOKS_ENV = 'ATTENTION_PROMPTING_TEST_HOOKS';

/** What the integration tests read and drive. */
export interface ExtensionTestApi {
  engine: EngineClient;
  answers: AnswerStore;
  panels(): PanelSnapshot[];
  /** Asks about an image whose panel is open (as its Ask button does). */
  askAbout(imagePath: string, question: string): Promise<AnswerEntry | undefined>;
  stop(entryId: string): void;
  /** Runs a review without the prompts (the integration suite answers them this way). */
  review(request: ReviewRequest): Promise<BatchOutcome | undefined>;
  /** Opens a run's report.html in the report panel, its rows and Re-run failed acting on `request`'s run (as Review Folder does when a run ends). */
  showReport(outcome: BatchOutcome, request: ReviewRequest): void;
  /** Applies control values to an open panel (as its controls do). */
  setView(imagePath: string, view: ViewParameters): Promise<void>;
  /** Brings an open panel to the front. */
  reveal(imagePath: string): Promise<void>;
  /** The @attention participant's handler (the chat view needs GitHub Copilot, which the test VS Code lacks). */
  chat: vscode.ChatRequestHandler;
  /** The participant's follow-ups for a result. */
  chatFollowups(result: vscode.ChatResult): Promise<vscode.ChatFollowup[]>;
}
