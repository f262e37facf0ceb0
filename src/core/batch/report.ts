/**
 * report.html: one self-contained page (thumbnails embedded as data URLs, no network) with a row
 * per item — original, overlay and masked thumbnails, both answers side by side — and filter and
 * sort controls (src/webview/report.ts). Written by streaming results.jsonl, so its size, not
 * memory, grows with the run. It carries its own strict CSP (REPORT_CSP).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeAtomic } from '../atomicWrite';
import { redactSecrets } from '../redact';
import { ResultRecord, readResults } from './results';
import type { BatchSummary } from './runner';

const esc = (s: unknown) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Marks an answer that stopped early (what arrived is shown). */
const incompleteNote = (reason: string | undefined) => (reason ? ` <span class="err">[incomplete: ${esc(reason)}]</span>` : '');

function thumbTag(outDir: string, rel: string | undefined, alt: string): string {
  const bytes = typeof rel === 'string' ? readThumbnail(outDir, rel) : undefined;
  if (!bytes) return '<div class="missing">—</div>';
  return `<img alt="${esc(alt)}" src="data:image/jpeg;base64,${bytes.toString('base64')}">`;
}

/**
 * A thumbnail named in results.jsonl, read only if it is a JPEG file inside the folder's thumbs/
 * (links resolved): the file may have been edited, and the report must not embed anything else.
 */
function readThumbnail(outDir: string, rel: string): Buffer | undefined {
  try {
    const thumbs = fs.realpathSync(path.join(outDir, 'thumbs'));
    const file = fs.realpathSync(path.resolve(outDir, rel));
    if (path.dirname(file) !== thumbs || !fs.statSync(file).isFile()) return undefined;
    const bytes = fs.readFileSync(file);
    return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff ? bytes : undefined;
  } catch {
    return undefined;
  }
}

function row(outDir: string, r: ResultRecord): string {
  const total = Object.values(r.timings ?? {}).reduce((a, b) => a + b, 0);
  const status = r.error ? 'error' : 'ok';
  return `<tr class="${status}" data-id="${esc(r.id)}" data-status="${status}" data-ms="${total.toFixed(0)}" data-text="${esc(`${r.id} ${r.question} ${r.maskedAnswer ?? ''} ${r.originalAnswer ?? ''} ${redactSecrets(r.error?.message ?? '')}`.toLowerCase())}">
<td class="id">${esc(r.id)}<div class="muted">${esc(path.basename(r.image))}</div></td>
<td>${thumbTag(outDir, r.outputs?.thumbs?.original, 'original')}</td>
<td>${thumbTag(outDir, r.outputs?.thumbs?.overlay, 'heatmap overlay')}</td>
<td>${thumbTag(outDir, r.outputs?.thumbs?.masked, 'masked')}</td>
<td class="q">${esc(r.question)}${r.hint ? `<div class="muted">hint: ${esc(r.hint)}</div>` : ''}</td>
<td class="a">${r.maskedAnswer !== undefined ? esc(r.maskedAnswer) + incompleteNote(r.incomplete?.masked) : r.error && r.error.stage !== 'vlm-original' ? `<span class="err">${esc(r.error.stage)}: ${esc(redactSecrets(r.error.message))}</span>` : '<span class="muted">—</span>'}</td>
<td class="a">${r.originalAnswer !== undefined ? esc(r.originalAnswer) + incompleteNote(r.incomplete?.original) : r.error?.stage === 'vlm-original' ? `<span class="err">${esc(redactSecrets(r.error.message))}</span>` : '<span class="muted">—</span>'}</td>
<td class="num">${total.toFixed(0)}</td>
</tr>\n`;
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fff}
@media (prefers-color-scheme: dark){body{color:#ddd;background:#1e1e1e}th{background:#2a2a2a!important}}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #8884;padding:6px;vertical-align:top;text-align:left}
th{position:sticky;top:0;background:#f3f3f3;cursor:pointer}img{width:120px;height:auto;display:block}
tr.error .id{border-left:3px solid #c33}.err{color:#c33}.muted{opacity:.65;font-size:12px}.num{text-align:right}
.a{max-width:320px;white-space:pre-wrap}.bar{display:flex;gap:8px;align-items:center;margin:8px 0}.summary{margin:4px 0 12px}`;

/** src/webview/report.ts, bundled by esbuild.mjs and inlined here as one string. */
declare const REPORT_SCRIPT: string;
const SCRIPT = REPORT_SCRIPT;
if (/<\/script/i.test(SCRIPT)) throw new Error('the report script cannot be inlined: it contains "</script"');

const sha256 = (text: string) => `'sha256-${crypto.createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The report's own Content-Security-Policy: nothing from the network, images only as data URLs,
 * and only this style and this script, admitted by their hashes. The same bytes are then safe in a
 * browser opened from disk and in VS Code's webview, which shows the file unchanged.
 */
export const REPORT_CSP = [
  "default-src 'none'",
  'img-src data:',
  `style-src ${sha256(STYLE)}`,
  `script-src ${sha256(SCRIPT)}`,
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** Writes report.html next to results.jsonl (atomically); returns its path. */
export async function writeReport(outDir: string, summary?: BatchSummary): Promise<string> {
  const file = path.join(outDir, 'report.html');
  await writeAtomic(file, (tmp) => streamReport(tmp, outDir, summary));
  return file;
}

async function streamReport(file: string, outDir: string, s: BatchSummary | undefined): Promise<void> {
  const out = fs.createWriteStream(file, { flags: 'wx' });
  let failed: Error | undefined;
  out.on('error', (e) => (failed = e));
  const write = (text: string) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed);
      if (out.write(text)) return resolve();
      out.once('drain', resolve);
      out.once('error', reject);
    });
  await write(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Attention Prompting report</title><style>${STYLE}</style></head><body>
<h1>Attention Prompting report</h1>
${s ? `<div class="summary">${esc(s.input)} · model ${esc(s.model)} layer ${s.layer} · contrast ${s.parameters.contrast}, kernel ${s.parameters.kernel}, ${esc(s.parameters.interpolation)}, gray ${s.parameters.gray}, ${esc(s.parameters.geometry)} geometry${s.vlmModel ? ` · VLM ${esc(s.vlmModel)} at ${esc(s.endpointHost)}` : ' · no VLM'} · ${s.done} done, ${s.failed} failed, ${s.skipped} skipped${s.interrupted ? ' · interrupted' : ''} · ${s.imagesPerSecond.toFixed(2)} images/s</div>` : ''}
<div class="bar"><input id="filter" type="search" placeholder="Filter by id, question or answer" aria-label="Filter"><select id="status" aria-label="Status"><option value="all">all</option><option value="ok">answered</option><option value="error">failed</option></select><span id="count"></span></div>
<table><thead><tr><th data-sort="id">id</th><th>original</th><th>heatmap</th><th>masked</th><th>question</th><th>answer (masked)</th><th>answer (original)</th><th data-sort="ms">ms</th></tr></thead><tbody>
`);
  for await (const r of readResults(path.join(outDir, 'results.jsonl'))) await write(row(outDir, r));
  await write(`</tbody></table><script>${SCRIPT}</script></body></html>\n`);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}
