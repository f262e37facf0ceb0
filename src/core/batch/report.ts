/**
 * report.html: one page that opens offline — the run, the masked-vs-original comparison (overall,
 * per category, per sweep setting, ranked), and a row per result with thumbnails and both answers,
 * filterable ("masked right, original wrong" and the reverse in one click) and sortable. Rows are
 * a JSON data island the page's script renders as they scroll into view (src/webview/report.ts),
 * so 20,000 results stay fast. Thumbnails are embedded as data URLs while they are small in total
 * and referenced as the files beside the report above INLINE_THUMBNAILS_MAX_BYTES. The page
 * carries its own CSP (reportCsp): its one script and style admitted by their hashes, so the same
 * bytes are safe in a browser from disk and in VS Code's webview. Written by streaming
 * results.jsonl, so memory does not grow with the run.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeAtomic } from '../atomicWrite';
import { redactSecrets } from '../redact';
import { completeReportStrings, type ReportStrings } from '../../shared/reportStrings';
import { format } from '../../shared/webviewStrings';
import { GroupComparison, outcome } from './comparison';
import type { ReportRow } from './reportData';
import { ResultRecord, readResults } from './results';
import type { ScoreSummary } from './rescore';
import type { BatchSummary } from './summaries';
import { Metric, isRight } from './scoring';

/** The bundled src/webview/report.ts, put in by esbuild (esbuild.mjs `define`). */
declare const REPORT_SCRIPT: string;
const SCRIPT = REPORT_SCRIPT;
if (/<\/script/i.test(SCRIPT)) throw new Error('the report script cannot be inlined: it contains "</script"');

/** Above this many bytes of thumbnails in total, the report links the files instead of embedding them. */
export const INLINE_THUMBNAILS_MAX_BYTES = 8 * 1024 * 1024;

export interface ReportOptions {
  inlineThumbnailsMaxBytes?: number;
  /** The page's texts (the extension's translations); absent or partial: English. */
  strings?: Partial<ReportStrings>;
}

const esc = (s: unknown) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * summary.json may have been edited (it is a file beside the report, read back by `score`, `merge`
 * and the extension): every number it gives goes into the page only if it is one, else "?".
 */
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const num = (v: unknown) => (finite(v) ? String(v) : '?');
const pct = (x: unknown) => (finite(x) ? `${(100 * x).toFixed(1)}%` : '?');
const pValue = (p: unknown) => (!finite(p) ? '?' : p < 1e-4 ? p.toExponential(1) : p.toPrecision(2));
const fixed3 = (v: unknown) => (finite(v) ? v.toFixed(3) : '—');
const pair = (v: unknown) => (Array.isArray(v) ? v : []);

function thumbFiles(r: ResultRecord): [string, string, string] | undefined {
  const t = r.outputs?.thumbs;
  return t ? [t.original, t.overlay, t.masked] : undefined;
}

/**
 * A thumbnail named in results.jsonl, used only if it is a file inside the folder's thumbs/
 * (links resolved) — and, to be embedded, a JPEG: the file may have been edited, and the report
 * must not embed or point at anything else.
 */
function confinedThumbnail(outDir: string, rel: string): string | undefined {
  try {
    const thumbs = fs.realpathSync(path.join(outDir, 'thumbs'));
    const file = fs.realpathSync(path.resolve(outDir, rel));
    return path.dirname(file) === thumbs && fs.statSync(file).isFile() ? file : undefined;
  } catch {
    return undefined;
  }
}

function readThumbnail(outDir: string, rel: string): Buffer | undefined {
  const file = confinedThumbnail(outDir, rel);
  if (!file) return undefined;
  const bytes = fs.readFileSync(file);
  return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff ? bytes : undefined;
}

function thumbSources(outDir: string, r: ResultRecord, inline: boolean): ReportRow['thumbs'] {
  const files = thumbFiles(r);
  if (!files) return undefined;
  const src = (rel: string) => {
    if (typeof rel !== 'string') return '';
    if (inline) {
      const bytes = readThumbnail(outDir, rel);
      return bytes ? `data:image/jpeg;base64,${bytes.toString('base64')}` : '';
    }
    // Relative URLs with forward slashes, each segment escaped, resolve beside the report on any OS.
    return confinedThumbnail(outDir, rel) ? rel.split(/[\\/]/).map(encodeURIComponent).join('/') : '';
  };
  return files.map(src) as [string, string, string];
}

function reportRow(outDir: string, r: ResultRecord, metric: Metric, inline: boolean): ReportRow {
  const right = (s: Parameters<typeof isRight>[0]) => {
    const v = r.error ? undefined : isRight(s, metric);
    return v === undefined ? undefined : v ? (1 as const) : (0 as const);
  };
  return {
    id: r.id,
    setting: r.setting,
    file: path.basename(r.image),
    question: r.question,
    hint: r.hint,
    category: r.category,
    masked: r.maskedAnswer,
    original: r.originalAnswer,
    maskedRight: right(r.scores?.masked),
    originalRight: right(r.scores?.original),
    outcome: outcome(r, metric),
    maskedIncomplete: r.incomplete?.masked,
    originalIncomplete: r.incomplete?.original,
    error: r.error ? `${r.error.stage}: ${redactSecrets(r.error.message)}` : undefined,
    ms: Object.values(r.timings ?? {}).reduce((a, b) => a + b, 0),
    thumbs: thumbSources(outDir, r, inline),
  };
}

/** A text with its placeholders filled, escaped for HTML. */
const text = (template: string, ...args: Array<string | number>) => esc(format(template, ...args));

function groupRow(label: unknown, g: GroupComparison, extra = ''): string {
  const t: Partial<GroupComparison['table']> = g?.table ?? {};
  const acc = (a: GroupComparison['masked'] | undefined) => `${pct(a?.accuracy)} <span class="muted">[${pct(pair(a?.ci95)[0])}, ${pct(pair(a?.ci95)[1])}] ${num(a?.right)}/${num(a?.n)}</span>`;
  const judge = g?.judgeMean ? `<td class="num">${fixed3(g.judgeMean.masked)} / ${fixed3(g.judgeMean.original)}</td>` : '<td class="num muted">—</td>';
  return `<tr>${extra}<th scope="row">${esc(label)}</th><td>${acc(g?.masked)}</td><td>${acc(g?.original)}</td><td class="num">${num(t.bothRight)}</td><td class="num">${num(t.onlyMaskedRight)}</td><td class="num">${num(t.onlyOriginalRight)}</td><td class="num">${num(t.bothWrong)}</td><td class="num">${pValue(t.mcnemarP)}</td>${judge}</tr>`;
}

const comparisonHead = (t: ReportStrings) =>
  [t.masked, t.original, t.bothRight, t.onlyMaskedRight, t.onlyOriginalRight, t.bothWrong, t.mcnemarP, t.judgeMean].map((h) => `<th>${esc(h)}</th>`).join('');

function comparisonSection(s: (BatchSummary & ScoreSummary) | undefined, t: ReportStrings): string {
  const scored = (g: GroupComparison) => finite(g?.masked?.n) && finite(g?.original?.n) && g.masked.n + g.original.n > 0;
  if (!(s?.comparison && scored(s.comparison.overall)) && !s?.sweep?.some(scored)) return '';
  const metric = s.metric ?? s.comparison?.metric ?? 'exact';
  const note = `<p class="muted">${text(t.scoringNote, metric === 'judge' ? t.metricJudge : String(metric))}</p>`;
  if (Array.isArray(s.sweep) && s.sweep.length) {
    return `<section id="comparison"><h2>${esc(t.rankedHeading)}</h2>${note}<table class="cmp"><thead><tr><th>${esc(t.rank)}</th><th>${esc(t.setting)}</th>${comparisonHead(t)}</tr></thead><tbody>${s.sweep.map((r) => groupRow(r?.setting, r, `<td class="num">${num(r?.rank)}</td>`)).join('')}</tbody></table></section>`;
  }
  const c = s.comparison!;
  const categories = Object.entries(typeof c.categories === 'object' && c.categories ? c.categories : {}).map(([k, g]) => groupRow(k, g)).join('');
  return `<section id="comparison"><h2>${esc(t.comparisonHeading)}</h2>${note}<table class="cmp"><thead><tr><th></th>${comparisonHead(t)}</tr></thead><tbody>${groupRow(t.allResults, c.overall)}${categories}</tbody></table>${c.unscored ? `<p class="muted">${text(t.unscored, num(c.unscored))}</p>` : ''}</section>`;
}

function runLine(s: BatchSummary | undefined, t: ReportStrings): string {
  if (!s?.parameters || typeof s.parameters !== 'object') return '';
  const p = s.parameters;
  // A sweep's layer, contrast and kernel vary by row: name the swept values instead.
  const axes = s.sweepAxes && typeof s.sweepAxes === 'object' ? (s.sweepAxes as Record<string, unknown>) : undefined;
  const axisText: Record<string, string> = { layer: t.layer, contrast: t.contrast, kernel: t.kernel };
  const swept = axes ? Object.entries(axes).map(([axis, values]) => format(axisText[axis] ?? `${axis} {0}`, pair(values).map(num).join(', '))) : [];
  const fixed = axes
    ? `${text(t.sweepOver, swept.join('; '))}${axes.layer ? '' : ` · ${text(t.layer, num(s.layer))}`}${axes.contrast ? '' : ` · ${text(t.contrast, num(p.contrast))}`}${axes.kernel ? '' : ` · ${text(t.kernel, num(p.kernel))}`}`
    : `${text(t.layer, num(s.layer))} · ${text(t.contrast, num(p.contrast))}, ${text(t.kernel, num(p.kernel))}`;
  const missing = (s as { missing?: unknown }).missing;
  const answers = s.vlmModel ? text(t.vlmAt, String(s.vlmModel), String(s.endpointHost ?? '')) : esc(t.noVlm);
  return `<div class="summary">${esc(s.input)} · ${text(t.model, String(s.model ?? ''))} ${fixed}, ${esc(p.interpolation)}, ${text(t.gray, num(p.gray))}, ${text(t.geometry, String(p.geometry ?? ''))} · ${answers} · ${text(t.done, num(s.done))}, ${text(t.failed, num(s.failed))}, ${text(t.skipped, num(s.skipped))}${finite(missing) ? ` · ${text(t.missing, num(missing))}` : ''}${s.interrupted ? ` · ${esc(t.interrupted)}` : ''}${s.shard ? ` · ${text(t.shard, String(s.shard))}` : ''}${finite(s.imagesPerSecond) ? ` · ${text(t.rate, s.imagesPerSecond.toFixed(2))}` : ''}</div>`;
}

/**
 * Colours are named once (--ap-*): inside VS Code from the theme's --vscode-* variables the
 * webview is given, in a browser from its light or dark scheme; high contrast (VS Code's
 * vscode-high-contrast body class, or the system's forced colours) drops tints and faded text for
 * the theme's contrast borders. Admitted by hash in the CSP: every style of the page is here.
 */
const STYLE = `:root{color-scheme:light dark;--fg:#222;--bg:#fff;--head:#f3f3f3;--line:#8884;--err:#c33;--ok:#1a7f1a;--accent:#38f;--hover:#0000000a}
@media (prefers-color-scheme: dark){:root{--fg:#ddd;--bg:#1e1e1e;--head:#2a2a2a;--err:#f77;--ok:#5c5;--hover:#ffffff10}}
:root{--ap-fg:var(--vscode-foreground,var(--fg));--ap-bg:var(--vscode-editor-background,var(--bg));--ap-head:var(--vscode-editorWidget-background,var(--head));--ap-line:var(--vscode-panel-border,var(--line));--ap-err:var(--vscode-errorForeground,var(--err));--ap-ok:var(--vscode-testing-iconPassed,var(--ok));--ap-focus:var(--vscode-focusBorder,var(--accent));--ap-pressed:var(--vscode-focusBorder,var(--accent))}
body{font-family:var(--vscode-font-family,system-ui,sans-serif);font-size:14px;margin:16px;color:var(--ap-fg);background:var(--ap-bg)}
button{font:inherit;color:var(--vscode-button-secondaryForeground,ButtonText);background:var(--vscode-button-secondaryBackground,ButtonFace);border:1px solid var(--vscode-button-border,var(--ap-line));border-radius:2px;padding:2px 8px;cursor:pointer}
input,select{font:inherit;color:var(--vscode-input-foreground,FieldText);background:var(--vscode-input-background,Field);border:1px solid var(--vscode-input-border,var(--ap-line))}
:focus-visible{outline:2px solid var(--ap-focus);outline-offset:-1px}
table.cmp{border-collapse:collapse;margin:4px 0 8px}table.cmp th,table.cmp td{border-bottom:1px solid var(--ap-line);padding:4px 8px;text-align:left;white-space:nowrap}
.num{text-align:right}.muted{opacity:.7;font-size:12px}.err{color:var(--ap-err)}.summary{margin:4px 0 12px}
.bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0;position:sticky;top:0;background:var(--ap-bg);z-index:2;padding:4px 0}
.bar button[aria-pressed=true]{outline:2px solid var(--ap-pressed)}
.grid,.row{display:grid;grid-template-columns:150px 128px 128px 128px minmax(160px,1fr) minmax(200px,1.4fr) minmax(200px,1.4fr) 60px;gap:0 6px}
.head{position:sticky;top:40px;background:var(--ap-head);z-index:1;font-weight:600}.head>div{padding:6px}
.head button{font-weight:inherit;color:inherit;background:none;border:0;padding:0;text-align:inherit;width:100%}
[aria-sort=ascending] button::after{content:" \\25B2" / ""}[aria-sort=descending] button::after{content:" \\25BC" / ""}
#list{position:relative}.row{position:absolute;left:0;right:0;height:108px;box-sizing:border-box;border-bottom:1px solid var(--ap-line);padding:4px 0;overflow:hidden}.row:hover{background:var(--vscode-list-hoverBackground,var(--hover))}
.cell{overflow:auto;padding:0 6px}.cell.id{word-break:break-all}.a{white-space:pre-wrap}
.row.error .id{border-left:3px solid var(--ap-err)}.t img{width:120px;height:96px;object-fit:contain;display:block}
.mark.right{color:var(--ap-ok)}.mark.wrong{color:var(--ap-err)}.row.only-masked{background:#2a22}.row.only-original{background:#c332}
.vscode-high-contrast{--ap-line:var(--vscode-contrastBorder,CanvasText);--ap-pressed:var(--vscode-contrastActiveBorder,Highlight)}
.vscode-high-contrast .muted{opacity:1}.vscode-high-contrast .row.only-masked,.vscode-high-contrast .row.only-original{background:none;border-left:3px double var(--ap-line)}
@media (forced-colors: active){.muted{opacity:1}.bar button[aria-pressed=true]{outline-color:Highlight}.row.only-masked,.row.only-original{border-left:3px double CanvasText}}`;

/** JSON for a data island: "<" escaped, so no text can close the island's script element. */
const islandJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

const sha256 = (text: string) => `'sha256-${crypto.createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** Where VS Code's webviews load local files from (webview.cspSource): linked thumbnails in the report panel. */
export const WEBVIEW_RESOURCE_ORIGIN = 'https://*.vscode-cdn.net';

/**
 * The report's own Content-Security-Policy: nothing from the network, only this style and this
 * script (by hash). Images are data URLs; a report that links its thumbnails also admits the files
 * beside it — file: in a browser, the webview's resource origin in VS Code, where the panel sets
 * the page's base to the output folder (the only base it admits).
 */
export function reportCsp(linkedThumbnails: boolean): string {
  return [
    "default-src 'none'",
    linkedThumbnails ? `img-src data: file: ${WEBVIEW_RESOURCE_ORIGIN}` : 'img-src data:',
    `style-src ${sha256(STYLE)}`,
    `script-src ${sha256(SCRIPT)}`,
    linkedThumbnails ? `base-uri ${WEBVIEW_RESOURCE_ORIGIN}` : "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** Writes report.html next to results.jsonl (atomically); returns its path. */
export async function writeReport(outDir: string, summary?: BatchSummary & ScoreSummary, opts: ReportOptions = {}): Promise<string> {
  const results = path.join(outDir, 'results.jsonl');
  const s = summary ?? (fs.existsSync(path.join(outDir, 'summary.json')) ? JSON.parse(fs.readFileSync(path.join(outDir, 'summary.json'), 'utf8')) : undefined);
  const metric: Metric = s?.metric ?? s?.comparison?.metric ?? 'exact';
  // First pass: how big the thumbnails are together decides between embedding and linking them.
  let thumbBytes = 0;
  const limit = opts.inlineThumbnailsMaxBytes ?? INLINE_THUMBNAILS_MAX_BYTES;
  for await (const r of readResults(results)) {
    for (const rel of thumbFiles(r) ?? []) {
      try {
        thumbBytes += fs.statSync(path.join(outDir, rel)).size;
      } catch {
        // a missing thumbnail shows as "—"
      }
    }
    if (thumbBytes > limit) break;
  }
  const inline = thumbBytes <= limit;
  const t = completeReportStrings(opts.strings);

  const file = path.join(outDir, 'report.html');
  await writeAtomic(file, async (tmp) => {
    const out = fs.createWriteStream(tmp, { flags: 'wx' });
    let failed: Error | undefined;
    out.on('error', (e) => (failed = e));
    const write = (text: string) =>
      new Promise<void>((resolve, reject) => {
        if (failed) return reject(failed);
        if (out.write(text)) return resolve();
        const onError = (e: Error) => (out.off('drain', onDrain), reject(e));
        const onDrain = () => (out.off('error', onError), resolve());
        out.once('drain', onDrain);
        out.once('error', onError);
      });
    await write(`<!DOCTYPE html><html lang="${esc(t.lang)}"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${reportCsp(!inline)}"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(t.title)}</title><style>${STYLE}</style></head><body>
<h1>${esc(t.title)}</h1>
${runLine(s, t)}
${comparisonSection(s, t)}
<div class="bar"><input id="filter" type="search" placeholder="${esc(t.filterPlaceholder)}" aria-label="${esc(t.filterLabel)}">
<select id="status" aria-label="${esc(t.statusLabel)}"><option value="all">${esc(t.statusAll)}</option><option value="ok">${esc(t.statusAnswered)}</option><option value="error">${esc(t.statusFailed)}</option></select>
<select id="setting" aria-label="${esc(t.settingLabel)}"><option value="all">${esc(t.everySetting)}</option></select>
<select id="category" aria-label="${esc(t.categoryLabel)}"><option value="all">${esc(t.everyCategory)}</option></select>
<button data-outcome="all" aria-pressed="true">${esc(t.outcomeAll)}</button><button data-outcome="only-masked" aria-pressed="false">${esc(t.outcomeOnlyMasked)}</button><button data-outcome="only-original" aria-pressed="false">${esc(t.outcomeOnlyOriginal)}</button><button data-outcome="both-wrong" aria-pressed="false">${esc(t.outcomeBothWrong)}</button>
<button id="rerun-failed" hidden>${esc(t.rerunFailed)}</button><span id="count" role="status"></span></div>
<div role="table" aria-label="${esc(t.resultsLabel)}" id="results"><div class="grid head" role="row"><div role="columnheader" aria-sort="ascending"><button data-sort="id">${esc(t.headId)}</button></div><div role="columnheader">${esc(t.headOriginal)}</div><div role="columnheader">${esc(t.headHeatmap)}</div><div role="columnheader">${esc(t.headMasked)}</div><div role="columnheader">${esc(t.headQuestion)}</div><div role="columnheader" aria-sort="none"><button data-sort="outcome">${esc(t.headMaskedAnswer)}</button></div><div role="columnheader">${esc(t.headOriginalAnswer)}</div><div role="columnheader" aria-sort="none" class="num"><button data-sort="ms">${esc(t.headMs)}</button></div></div>
<div id="list" role="rowgroup"></div></div>
<script type="application/json" id="strings">${islandJson(t)}</script>
<script type="application/json" id="rows">[`);
    // The script reads these islands by position (the rows right before it, the strings before them), never by id alone.
    let first = true;
    for await (const r of readResults(results)) {
      // "<" escaped so no answer text can close the data island.
      await write((first ? '' : ',\n') + islandJson(reportRow(outDir, r, metric, inline)));
      first = false;
    }
    await write(`]</script>\n<script>${SCRIPT}</script></body></html>\n`);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  });
  return file;
}
