/** The answers side panel: per-image history, masked and original answers side by side. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { AnswerEntry, AnswerSide, AnswersToHost, HostToAnswers } from '../shared/protocol';
import { isMessage } from '../shared/protocol';

declare function acquireVsCodeApi(): { postMessage(m: AnswersToHost): void };
const vscode = acquireVsCodeApi();

const app = document.getElementById('app')!;
app.innerHTML = `
<header class="toolbar"><span class="title">History</span><vscode-button id="clear" secondary title="Clear the whole history">Clear</vscode-button></header>
<div id="entries" role="list"></div>`;
const list = document.getElementById('entries')!;
document.getElementById('clear')!.addEventListener('click', () => vscode.postMessage({ type: 'clear' }));

let entries: AnswerEntry[] = [];

const STATUS: Record<AnswerSide['status'], string> = {
  waiting: 'waiting…',
  streaming: 'answering…',
  done: '',
  error: 'failed',
  stopped: 'stopped',
  off: 'off',
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
  col.append(el('div', 'answer-text', s.status === 'off' ? 'Comparison with the original is turned off in settings.' : s.error ?? s.text));
  return col;
}

function card(e: AnswerEntry): HTMLElement {
  const c = el('article', 'entry');
  c.id = `entry-${e.id}`;
  c.setAttribute('role', 'listitem');
  c.append(el('div', 'question', e.question));
  const sides = el('div', 'sides');
  sides.append(side('Masked image', e.masked, 'masked'), side('Original image', e.original, 'original'));
  c.append(sides);
  const meta = el('div', 'meta', `${e.model} · ${e.host} · ${new Date(e.at).toLocaleTimeString()}${e.heatmapMs !== undefined ? ` · heatmap ${e.heatmapMs.toFixed(0)} ms` : ''}`);
  c.append(meta);
  const actions = el('div', 'actions');
  const streaming = [e.masked.status, e.original.status].some((s) => s === 'streaming' || s === 'waiting');
  const button = (label: string, type: 'reask' | 'stop' | 'reveal', secondary = true) => {
    const b = document.createElement('vscode-button') as HTMLElement & { secondary: boolean };
    b.textContent = label;
    b.secondary = secondary;
    b.addEventListener('click', () => vscode.postMessage({ type, id: e.id }));
    actions.append(b);
  };
  if (streaming) button('Stop', 'stop', false);
  else button('Re-ask', 'reask');
  button('Open image', 'reveal');
  c.append(actions);
  return c;
}

function render(): void {
  list.replaceChildren();
  if (!entries.length) {
    list.append(el('p', 'empty', 'Right-click an image in the Explorer and choose “Ask About Image…”. Answers appear here.'));
    return;
  }
  let lastImage = '';
  for (const e of entries) {
    if (e.imagePath !== lastImage) {
      const h = el('h3', 'image-name', e.fileName);
      h.title = e.imagePath;
      list.append(h);
      lastImage = e.imagePath;
    }
    list.append(card(e));
  }
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const m = event.data;
  if (!isMessage<HostToAnswers>(m, ['entries', 'entry'])) return;
  if (m.type === 'entries') {
    entries = m.entries;
    render();
  } else {
    const i = entries.findIndex((x) => x.id === m.entry.id);
    if (i >= 0) {
      entries[i] = m.entry;
      document.getElementById(`entry-${m.entry.id}`)?.replaceWith(card(m.entry));
    }
  }
});
vscode.postMessage({ type: 'ready' });
