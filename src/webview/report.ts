/**
 * The batch report's script (report.html): filter rows by text and status, sort by a column,
 * count what is shown. Bundled by esbuild into one string that core/batch/report.ts inlines; the
 * report's Content-Security-Policy admits exactly this text by its SHA-256 hash, so the same file
 * runs in a browser from disk and in VS Code's webview without changes.
 *
 * Rows carry their data in data-* attributes (id, status, ms, text). Each feature is a function of
 * the `Report` state below, so further ones (rendering rows as they scroll into view, say) plug in
 * beside filter and sort.
 */

export interface Report {
  /** All rows, in the current sort order. */
  rows: HTMLTableRowElement[];
  body: HTMLTableSectionElement;
  filter: HTMLInputElement;
  status: HTMLSelectElement;
  count: HTMLElement;
}

/** Shows the rows that match the filter text and status; returns how many. */
export function applyFilter(r: Report): number {
  const text = r.filter.value.toLowerCase();
  const status = r.status.value;
  let shown = 0;
  for (const row of r.rows) {
    const ok = (!text || (row.dataset.text ?? '').includes(text)) && (status === 'all' || row.dataset.status === status);
    row.hidden = !ok;
    if (ok) shown++;
  }
  r.count.textContent = `${shown} of ${r.rows.length} rows`;
  return shown;
}

/** Sorts by a data-* key (numerically for `ms`), flipping direction on each call for the same key. */
export function sortBy(r: Report, key: string, direction: number): void {
  const value = (row: HTMLTableRowElement): string | number => (key === 'ms' ? Number(row.dataset[key]) : (row.dataset[key] ?? ''));
  r.rows.sort((a, b) => {
    const x = value(a);
    const y = value(b);
    return (x > y ? 1 : x < y ? -1 : 0) * direction;
  });
  r.body.append(...r.rows);
}

export function startReport(doc: Document): Report {
  const r: Report = {
    body: doc.querySelector('tbody')!,
    rows: [...doc.querySelectorAll<HTMLTableRowElement>('tbody tr')],
    filter: doc.getElementById('filter') as HTMLInputElement,
    status: doc.getElementById('status') as HTMLSelectElement,
    count: doc.getElementById('count')!,
  };
  r.filter.addEventListener('input', () => applyFilter(r));
  r.status.addEventListener('change', () => applyFilter(r));
  const directions = new Map<string, number>();
  for (const th of doc.querySelectorAll<HTMLTableCellElement>('th[data-sort]')) {
    th.addEventListener('click', () => {
      const key = th.dataset.sort!;
      const direction = -(directions.get(key) ?? -1);
      directions.set(key, direction);
      sortBy(r, key, direction);
    });
  }
  applyFilter(r);
  return r;
}

startReport(document);
