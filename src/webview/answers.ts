/** The answers side panel: per-image history, masked and original answers side by side. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { AnswerEntry, AnswerSide, AnswersHostVocabulary, AnswersVocabulary } from '../shared/protocol';
import { format, type AnswersStrings } from '../shared/webviewStrings';
import { connect, pageStrings } from './channel';

const { host } = connect<AnswersVocabulary, AnswersHostVocabulary>();
const t = pageStrings<AnswersStrings>();

const app = document.getElementById('app')!;
const toolbar = el('header', 'toolbar');
toolbar.append(el('span', 'title', t.history));
const clear = document.createElement('vscode-button') as HTMLElement & { secondary: boolean };
clear.id = 'clear';
clear.secondary = true;
clear.title = t.clearTitle;
clear.textContent = t.clear;
clear.addEventListener('click', () => host.notify('clear', undefined));
toolbar.append(clear);
const list = el('div');
list.id = 'entries';
app.replaceChildren(toolbar, list);

let entries: AnswerEntry[] = [];

const STATUS: Record<AnswerSide['status'], string> = {
  waiting: t.waiting,
  streaming: t.answering,
  done: '',
  error: t.failed,
  stopped: t.stopped,
  off: t.off,
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function side(title: string, s: AnswerSide, which: string): HTMLElement {
  const col = el('div', `answer ${which} ${s.status}`);
  col.dataset.status = s.status;
  const head = el('div', 'answer-head', title);
  if (STATUS[s.status]) head.append(el('span', 'badge', STATUS[s.status]));
  if (s.elapsedMs !== undefined) head.append(el('span', 'time', `${(s.elapsedMs / 1000).toFixed(1)} s`));
  col.append(head);
  col.append(el('div', 'answer-text', s.status === 'off' ? t.offText : s.error ?? s.text));
  return col;
}

function card(e: AnswerEntry): HTMLElement {
  const c = el('article', 'entry');
  c.id = `entry-${e.id}`;
  c.setAttribute('role', 'listitem');
  c.append(el('div', 'question', e.question));
  const sides = el('div', 'sides');
  sides.append(side(t.maskedImage, e.masked, 'masked'), side(t.originalImage, e.original, 'original'));
  c.append(sides);
  const meta = el('div', 'meta', `${e.model} · ${e.host} · ${new Date(e.at).toLocaleTimeString()}${e.heatmapMs !== undefined ? ` · ${format(t.heatmapTime, e.heatmapMs.toFixed(0))}` : ''}`);
  c.append(meta);
  const actions = el('div', 'actions');
  const streaming = [e.masked.status, e.original.status].some((s) => s === 'streaming' || s === 'waiting');
  const button = (label: string, accessibleName: string, type: 'reask' | 'stop' | 'reveal', secondary = true) => {
    const b = document.createElement('vscode-button') as HTMLElement & { secondary: boolean };
    b.textContent = label;
    // Which answer it acts on: read out of context, every card's button would just say "Re-ask".
    b.setAttribute('aria-label', format(accessibleName, e.question));
    b.secondary = secondary;
    b.addEventListener('click', () => host.notify(type, { id: e.id }));
    actions.append(b);
  };
  if (streaming) button(t.stop, t.stopLabel, 'stop', false);
  else button(t.reask, t.reaskLabel, 'reask');
  button(t.openImage, t.openImageLabel, 'reveal');
  c.append(actions);
  return c;
}

function render(): void {
  list.replaceChildren();
  if (!entries.length) {
    list.append(el('p', 'empty', t.empty));
    return;
  }
  // Under each image's heading, its cards as one list (a list holds only its items, not the headings).
  let lastImage = '';
  let cards: HTMLElement = list;
  for (const e of entries) {
    if (e.imagePath !== lastImage) {
      const h = el('h3', 'image-name', e.fileName);
      h.title = e.imagePath;
      cards = el('div', 'cards');
      cards.setAttribute('role', 'list');
      list.append(h, cards);
      lastImage = e.imagePath;
    }
    cards.append(card(e));
  }
}

host
  .onNotification('entries', (m) => {
    entries = m.entries;
    render();
  })
  .onNotification('entry', ({ entry }) => {
    const i = entries.findIndex((x) => x.id === entry.id);
    if (i >= 0) {
      entries[i] = entry;
      document.getElementById(`entry-${entry.id}`)?.replaceWith(card(entry));
    }
  });
host.notify('ready', undefined);
