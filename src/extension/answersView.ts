/**
 * The side panel: a per-image history of questions with the VLM's answer to the masked image
 * and, beside it, to the original. The history lives in the host (and the workspace state), so
 * the view can be hidden, shown or reloaded without losing anything.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ANSWERS_HOST_CHECKS, type AnswerEntry, type AnswersHostVocabulary, type AnswersVocabulary } from '../shared/protocol';
import { webviewChannel, type WebviewChannel } from './webviewChannel';
import { WEBVIEW_OPTIONS, webviewHtml } from './webviewHtml';
import { answersStrings } from './webviewTranslations';

const STATE_KEY = 'attentionPrompting.answers';
const MAX_ENTRIES = 100;

export class AnswerStore {
  private entries: AnswerEntry[];
  private readonly changed = new vscode.EventEmitter<AnswerEntry | undefined>();
  /** Fires with the entry that changed, or undefined when the whole list did. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly memento: vscode.Memento) {
    const saved = memento.get<AnswerEntry[]>(STATE_KEY, []);
    // Anything that was streaming when the window closed did not finish.
    this.entries = saved.map((e) => ({ ...e, masked: settle(e.masked), original: settle(e.original) }));
  }

  all(): AnswerEntry[] {
    return this.entries;
  }

  get(id: string): AnswerEntry | undefined {
    return this.entries.find((e) => e.id === id);
  }

  add(entry: AnswerEntry): void {
    this.entries.unshift(entry);
    this.entries.length = Math.min(this.entries.length, MAX_ENTRIES);
    this.changed.fire(undefined);
    this.persist();
  }

  update(id: string, change: (e: AnswerEntry) => void, persist = false): void {
    const e = this.get(id);
    if (!e) return;
    change(e);
    this.changed.fire(e);
    if (persist) this.persist();
  }

  clear(): void {
    this.entries = [];
    this.changed.fire(undefined);
    this.persist();
  }

  private persist(): void {
    void this.memento.update(STATE_KEY, this.entries);
  }

  dispose(): void {
    this.changed.dispose();
  }
}

function settle(side: AnswerEntry['masked']): AnswerEntry['masked'] {
  return side.status === 'streaming' || side.status === 'waiting' ? { ...side, status: 'stopped' } : side;
}

export interface AnswerActions {
  reask(entry: AnswerEntry): void;
  stop(entry: AnswerEntry): void;
  reveal(entry: AnswerEntry): void;
}

export class AnswersViewProvider implements vscode.WebviewViewProvider {
  static readonly viewId = 'attentionPrompting.answers';
  private view: vscode.WebviewView | undefined;
  private channel: WebviewChannel<AnswersHostVocabulary, AnswersVocabulary> | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: AnswerStore,
    private readonly actions: AnswerActions,
    private readonly log: vscode.LogOutputChannel,
  ) {
    store.onDidChange((entry) => (entry ? this.channel?.endpoint.notify('entry', { entry }) : this.channel?.endpoint.notify('entries', { entries: store.all() })));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = WEBVIEW_OPTIONS;
    const channel = webviewChannel<AnswersHostVocabulary, AnswersVocabulary>(view.webview, ANSWERS_HOST_CHECKS, (m) => this.log.warn(`answers view: ${m}`));
    this.channel = channel;
    const withEntry = (f: (entry: AnswerEntry) => void) => ({ id }: { id: string }) => {
      const entry = this.store.get(id);
      if (entry) f(entry);
    };
    channel.endpoint
      .onNotification('ready', () => {
        channel.markReady();
        channel.endpoint.notify('entries', { entries: this.store.all() });
      })
      .onNotification('clear', () => this.store.clear())
      .onNotification('reask', withEntry((e) => this.actions.reask(e)))
      .onNotification('stop', withEntry((e) => this.actions.stop(e)))
      .onNotification('reveal', withEntry((e) => this.actions.reveal(e)));
    view.webview.html = webviewHtml(this.extensionUri, 'answers.js', vscode.l10n.t('Answers'), answersStrings());
    view.onDidDispose(() => {
      channel.dispose();
      if (this.channel === channel) this.channel = undefined;
      this.view = undefined;
    });
  }

  get visible(): boolean {
    return !!this.view?.visible;
  }
}

export function newEntry(imagePath: string, question: string, model: string, host: string, compare: boolean): AnswerEntry {
  return {
    id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    imagePath,
    fileName: path.basename(imagePath),
    question,
    model,
    host,
    at: Date.now(),
    masked: { text: '', status: 'waiting' },
    original: compare ? { text: '', status: 'waiting' } : { text: '', status: 'off' },
  };
}
