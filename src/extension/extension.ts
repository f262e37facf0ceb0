/**
 * Extension entry: makes the shared services (log, engine process, API keys, answer history and
 * runner) and has each feature register its own commands, views and serializers (`register` in
 * the feature's file). activate exports no API (it awaits only the settings migration): the
 * integration tests reach the internals through a command that exists only when the test
 * environment asks for it.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import * as answerSource from './answerSource';
import { AnswerRunner } from './answerRunner';
import { AnswerStore } from './answersView';
import * as apiKeyCommands from './apiKeyCommands';
import { ApiKeys } from './apiKeys';
import * as chatParticipant from './chatParticipant';
import * as clipModelCommand from './clipModelCommand';
import { registerCommand } from './commands';
import { changesEngine, idleMs, onInvalidSetting } from './config';
import { EngineClient } from './engineClient';
import * as heatmapCommands from './heatmapCommands';
import { HeatmapPanel, type PanelServices } from './heatmapPanel';
import { LanguageModelServer } from './languageModelServer';
import * as localModel from './localModel';
import * as maskImageTool from './maskImageTool';
import * as reviewCommands from './reviewCommands';
import { migrateRenamedSettings } from './settingsMigration';
import { TEST_HOOKS_ENV, type ExtensionTestApi } from './testHooks';

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel('Attention Prompting', { log: true });
  onInvalidSetting((message) => log.warn(message));
  // Before anything reads a setting: values under the old (pre-section) names move to the new ones.
  for (const note of await migrateRenamedSettings().catch((e: unknown) => [{ level: 'warn' as const, message: `Renamed settings not moved: ${String(e)}` }])) log[note.level](note.message);
  const engine = new EngineClient({
    scriptPath: context.asAbsolutePath(path.join('dist', 'engine.js')),
    idleMs: idleMs(),
    log: (level, message) => log[level](message),
  });
  const keys = new ApiKeys(context.secrets);
  const answers = new AnswerStore(context.workspaceState);
  const ask = new AnswerRunner(context, engine, keys, answers, log);
  const languageModelServer = new LanguageModelServer(engine);
  const services: PanelServices = { context, engine, log, ask: async (panel, q) => void (await ask.ask(panel, q)) };

  heatmapCommands.register(context, services, ask, answers);
  apiKeyCommands.register(context, keys, log);
  clipModelCommand.register(context, engine);
  localModel.register(context);
  answerSource.register(context);
  const reviews = reviewCommands.register({ panels: services, keys, languageModelServer });
  const agentDeps = { context, engine, log };
  maskImageTool.register(agentDeps);
  chatParticipant.register(agentDeps);
  registerCommand(context, 'showLog', () => log.show());

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (changesEngine(e)) engine.dispose();
    }),
    log,
    { dispose: () => engine.dispose() },
    { dispose: () => answers.dispose() },
  );
  log.info(`activated (engine script ${context.asAbsolutePath('dist/engine.js')})`);

  if (process.env[TEST_HOOKS_ENV] === '1') {
    const panelFor = (imagePath: string): HeatmapPanel => {
      const panel = HeatmapPanel.find(imagePath);
      if (!panel) throw new Error(`no heatmap panel for ${imagePath}`);
      return panel;
    };
    const hooks: ExtensionTestApi = {
      engine,
      answers,
      panels: () => HeatmapPanel.all().map((p) => p.snapshot()),
      askAbout: async (imagePath, question) => ask.ask(panelFor(imagePath), question),
      stop: (entryId) => ask.stop(entryId),
      review: async (request) => {
        const outcome = await reviews.run(request);
        if (outcome) reviews.openReport(outcome, request);
        return outcome;
      },
      showReport: (outcome, request) => reviews.openReport(outcome, request),
      setView: async (imagePath, view) => panelFor(imagePath).setView(view),
      reveal: async (imagePath) => panelFor(imagePath).panel.reveal(),
      chat: chatParticipant.chatHandler(agentDeps),
      chatFollowups: async (result) => chatParticipant.chatFollowups(result),
    };
    registerCommand(context, 'testHooks', () => hooks);
  }
}

export function deactivate(): void {
  // Disposables registered on the context stop the engine process.
}
