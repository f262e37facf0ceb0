/**
 * The batch report's script (bundled, inlined into report.html and admitted by the page's CSP hash). Rows
 * come from a JSON data island and only those in view are in the DOM, so 20,000 results load and
 * filter fast; every text goes in through textContent. Inside VS Code a click on a row opens its
 * image in the heatmap panel, and "Re-run failed" resumes the run.
 */
import type { Outcome } from '../core/batch/comparison';
import type { ReportRow } from '../core/batch/reportData';
import type { ReportHostVocabulary, ReportVocabulary } from '../shared/protocol';
import { completeReportStrings } from '../shared/reportStrings';
import { format } from '../shared/webviewStrings';
import { Endpoint } from '../shared/rpc';

declare function acquireVsCodeApi(): { postMessage(m: unknown): void };

/** Inside VS Code: the one typed channel to the host (shared/rpc.ts). In a browser from disk there is no host. */
function connectHost(): Endpoint<ReportVocabulary, ReportHostVocabulary> | undefined {
  if (typeof acquireVsCodeApi !== 'function') return undefined;
  const api = acquireVsCodeApi();
  const endpoint = new Endpoint<ReportVocabulary, ReportHostVocabulary>({
    send: (m) => api.postMessage(m),
    onInvalid: (why) => console.warn(`attention-prompting report: ${why}`),
  });
  window.addEventListener('message', (event: MessageEvent<unknown>) => endpoint.receive(event.data));
  return endpoint;
}
const host = connectHost();

/** Fixed row height: the virtual list places row i at i · ROW_HEIGHT. */
const ROW_HEIGHT = 108;
/** Rows rendered above and below the viewport, so fast scrolling shows no gaps. */
const OVERSCAN = 6;

/**
 * The data islands: the rows right before this script, the page's texts right before them. Read by
 * position, not by id, so markup slipped in earlier in the page (an edited summary.json) cannot
 * stand in for them.
 */
function dataIsland(element: Element | null | undefined): string | undefined {
  return element instanceof HTMLScriptElement && element.type === 'application/json' ? element.textContent || undefined : undefined;
}
const rowsIsland = document.currentScript?.previousElementSibling;
const rows: ReportRow[] = JSON.parse(dataIsland(rowsIsland) ?? '[]');
/** The texts the report was written with (the extension's translations, or English); English where one is missing. */
const t = (() => {
  try {
    return completeReportStrings(JSON.parse(dataIsland(rowsIsland?.previousElementSibling) ?? '{}'));
  } catch {
    return completeReportStrings(undefined);
  }
})();
const haystack = rows.map((r) => `${r.id} ${r.file} ${r.question} ${r.hint ?? ''} ${r.masked ?? ''} ${r.original ?? ''} ${r.error ?? ''} ${r.category ?? ''}`.toLowerCase());

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const filterBox = $<HTMLInputElement>('filter');
const statusBox = $<HTMLSelectElement>('status');
const settingBox = $<HTMLSelectElement>('setting');
const categoryBox = $<HTMLSelectElement>('category');
const count = $('count');
const list = $('list');
const table = $('results');
const sortButtons = [...document.querySelectorAll<HTMLButtonElement>('button[data-sort]')];
const outcomeButtons = [...document.querySelectorAll<HTMLButtonElement>('button[data-outcome]')];
const rerun = document.getElementById('rerun-failed') as HTMLButtonElement | null;

let outcome: Outcome | 'all' = 'all';
let sortKey: 'id' | 'ms' | 'outcome' | 'setting' = 'id';
let sortDir = 1;
let visible: number[] = [];

function fillSelect(select: HTMLSelectElement, values: Array<string | undefined>): void {
  const distinct = [...new Set(values.filter((v): v is string => v !== undefined))].sort(new Intl.Collator('en', { numeric: true }).compare);
  if (!distinct.length) {
    select.hidden = true;
    return;
  }
  for (const v of distinct) select.append(new Option(v, v));
}
fillSelect(settingBox, rows.map((r) => r.setting));
// Without ground truth there is nothing to compare: the outcome buttons would only empty the list.
if (!rows.some((r) => r.outcome !== 'unscored')) for (const b of document.querySelectorAll<HTMLElement>('button[data-outcome]')) b.hidden = true;
fillSelect(categoryBox, rows.map((r) => r.category));

const OUTCOME_ORDER: Record<Outcome, number> = { 'only-original': 0, 'only-masked': 1, 'both-wrong': 2, 'both-right': 3, unscored: 4 };

/** Rank of each row by (id, setting), computed once with one collator: sorting compares numbers. */
const collator = new Intl.Collator('en', { numeric: true });
const byName = rows.map((_, i) => i).sort((a, b) => collator.compare(rows[a].id, rows[b].id) || collator.compare(rows[a].setting ?? '', rows[b].setting ?? ''));
const nameRank = new Int32Array(rows.length);
byName.forEach((row, rank) => (nameRank[row] = rank));
const settingNames = [...new Set(rows.map((r) => r.setting ?? ''))].sort(collator.compare);
const settingRank = rows.map((r) => settingNames.indexOf(r.setting ?? ''));

function compare(a: number, b: number): number {
  const x = rows[a];
  const y = rows[b];
  let c = 0;
  if (sortKey === 'ms') c = x.ms - y.ms;
  else if (sortKey === 'outcome') c = OUTCOME_ORDER[x.outcome] - OUTCOME_ORDER[y.outcome];
  else if (sortKey === 'setting') c = settingRank[a] - settingRank[b];
  if (c === 0) c = nameRank[a] - nameRank[b];
  return c * sortDir;
}

/** Recomputes which rows pass the filters, in sort order, and redraws. */
function apply(): void {
  const text = filterBox.value.trim().toLowerCase();
  const status = statusBox.value;
  const setting = settingBox.value;
  const category = categoryBox.value;
  const next: number[] = [];
  // Walked in name order, so the default sort costs nothing.
  for (const i of byName) {
    const r = rows[i];
    if (status === 'ok' && r.error) continue;
    if (status === 'error' && !r.error) continue;
    if (outcome !== 'all' && r.outcome !== outcome) continue;
    if (setting !== 'all' && r.setting !== setting) continue;
    if (category !== 'all' && r.category !== category) continue;
    if (text && !haystack[i].includes(text)) continue;
    next.push(i);
  }
  if (sortKey !== 'id') next.sort(compare);
  else if (sortDir < 0) next.reverse();
  visible = next;
  count.textContent = format(t.rowCount, visible.length, rows.length);
  // Only the rows in view are in the DOM: the table says how many there are (the header is row 1).
  table.setAttribute('aria-rowcount', String(visible.length + 1));
  list.style.height = `${visible.length * ROW_HEIGHT}px`;
  list.replaceChildren();
  drawn.clear();
  draw();
}

function thumb(src: string | undefined, alt: string): HTMLElement {
  if (!src) {
    const none = document.createElement('div');
    none.className = 'missing';
    none.textContent = '—';
    return none;
  }
  const img = document.createElement('img');
  img.alt = alt;
  img.decoding = 'async';
  img.src = src;
  return img;
}

function cell(className: string, ...children: Array<Node | string>): HTMLElement {
  const div = document.createElement('div');
  div.className = `cell ${className}`;
  div.setAttribute('role', 'cell');
  div.append(...children);
  return div;
}

function muted(text: string): HTMLElement {
  const div = document.createElement('div');
  div.className = 'muted';
  div.textContent = text;
  return div;
}

function answer(text: string | undefined, right: 0 | 1 | undefined, error?: string, incomplete?: string): HTMLElement {
  if (text === undefined) {
    const span = document.createElement('span');
    span.className = error ? 'err' : 'muted';
    span.textContent = error ?? '—';
    return cell('a', span);
  }
  const mark = document.createElement('span');
  mark.className = right === 1 ? 'mark right' : right === 0 ? 'mark wrong' : 'mark';
  mark.textContent = right === 1 ? '✓ ' : right === 0 ? '✗ ' : '';
  mark.title = right === 1 ? t.right : right === 0 ? t.wrong : t.notScored;
  const c = cell('a', mark, text);
  if (incomplete) {
    const note = document.createElement('span');
    note.className = 'err';
    note.textContent = ` ${format(t.incomplete, incomplete)}`;
    c.append(note);
  }
  return c;
}

function renderRow(index: number): HTMLElement {
  const r = rows[index];
  const el = document.createElement('div');
  el.className = `row ${r.error ? 'error' : 'ok'} ${r.outcome}`;
  el.setAttribute('role', 'row');
  el.dataset.id = r.id;
  el.dataset.index = String(index);
  if (r.setting) el.dataset.setting = r.setting;
  const idCell = cell('id', r.id, muted(r.file));
  if (r.setting) idCell.append(muted(r.setting));
  if (r.category) idCell.append(muted(r.category));
  const q = cell('q', r.question);
  if (r.hint) q.append(muted(format(t.hint, r.hint)));
  el.append(
    idCell,
    cell('t', thumb(r.thumbs?.[0], t.altOriginal)),
    cell('t', thumb(r.thumbs?.[1], t.altOverlay)),
    cell('t', thumb(r.thumbs?.[2], t.altMasked)),
    q,
    answer(r.masked, r.maskedRight, r.error && r.masked === undefined ? r.error : undefined, r.maskedIncomplete),
    answer(r.original, r.originalRight, r.error && r.masked !== undefined && r.original === undefined ? r.error : undefined, r.originalIncomplete),
    cell('num', String(Math.round(r.ms))),
  );
  if (host) {
    el.tabIndex = 0;
    el.title = t.openInPanel;
  }
  return el;
}

/** Row elements currently in the DOM, by position in `visible`. */
const drawn = new Map<number, HTMLElement>();
let frame = 0;

function draw(): void {
  frame = 0;
  const top = list.getBoundingClientRect().top + window.scrollY;
  const first = Math.max(0, Math.floor((window.scrollY - top) / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(visible.length - 1, Math.ceil((window.scrollY + window.innerHeight - top) / ROW_HEIGHT) + OVERSCAN);
  for (const [pos, el] of drawn) {
    if (pos < first || pos > last || el.dataset.index !== String(visible[pos])) {
      el.remove();
      drawn.delete(pos);
    }
  }
  for (let pos = first; pos <= last; pos++) {
    if (drawn.has(pos)) continue;
    const el = renderRow(visible[pos]);
    el.style.top = `${pos * ROW_HEIGHT}px`;
    el.setAttribute('aria-rowindex', String(pos + 2));
    list.append(el);
    drawn.set(pos, el);
  }
}

const schedule = () => {
  if (!frame) frame = requestAnimationFrame(draw);
};
window.addEventListener('scroll', schedule, { passive: true });
window.addEventListener('resize', schedule);

filterBox.addEventListener('input', apply);
for (const select of [statusBox, settingBox, categoryBox]) select.addEventListener('change', apply);
for (const button of outcomeButtons) {
  button.addEventListener('click', () => {
    outcome = button.dataset.outcome as Outcome | 'all';
    for (const b of outcomeButtons) b.setAttribute('aria-pressed', String(b === button));
    apply();
  });
}
for (const button of sortButtons) {
  button.addEventListener('click', () => {
    const key = button.dataset.sort as typeof sortKey;
    sortDir = key === sortKey ? -sortDir : 1;
    sortKey = key;
    // The column header says how the table is sorted; the others are not.
    for (const b of sortButtons) b.closest('[role=columnheader]')?.setAttribute('aria-sort', b !== button ? 'none' : sortDir > 0 ? 'ascending' : 'descending');
    apply();
  });
}

if (host) {
  const open = (target: EventTarget | null) => {
    const row = (target as HTMLElement | null)?.closest<HTMLElement>('.row');
    if (row?.dataset.id === undefined) return;
    host.notify('openItem', row.dataset.setting === undefined ? { id: row.dataset.id } : { id: row.dataset.id, setting: row.dataset.setting });
  };
  list.addEventListener('click', (e) => open(e.target));
  list.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') open(e.target);
    // Space on the row itself, as on a button (inside a scrollable cell it still scrolls).
    else if (e.key === ' ' && (e.target as HTMLElement).classList.contains('row')) {
      e.preventDefault();
      open(e.target);
    }
  });
  if (rerun && rows.some((r) => r.error)) {
    rerun.hidden = false;
    rerun.addEventListener('click', () => host.notify('rerunFailed', undefined));
  }
}

apply();
