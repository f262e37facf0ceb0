/**
 * After the window reload the main suite ends with: the heatmap panel is back (restored by the
 * panel serializer from the state its webview kept), with its question and control values, and
 * shows a heatmap computed again in a new engine process — read as pixels from the restored
 * webview (in code-server it once stayed blank: its script was fetched through a service worker
 * that the restored frame did not have; the page now carries it inline). The review report left
 * open is back too, read again from its output folder, and answers a row click and Re-run failed.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { control, reportRows, testHooks, waitFor } from './helpers';
import { RELOAD_MARKER, type ReloadMarker } from './reloadMarker';

suite('After a window reload', () => {
  test('the heatmap panel comes back with its question and controls', async () => {
    const marker = JSON.parse(fs.readFileSync(RELOAD_MARKER(), 'utf8')) as ReloadMarker;
    const api = await testHooks();
    const snap = await waitFor('the restored panel', () => api.panels().find((p) => p.imagePath === marker.imagePath && p.images), 60_000);
    assert.equal(snap.restored, true, 'brought back by the serializer, not opened anew');
    assert.equal(snap.question, marker.question);
    assert.deepEqual(snap.view, marker.view);
    assert.ok(snap.images, 'the heatmap was computed again in the new engine process');
    // What the restored webview shows: the red box kept, the rest faded to gray level 255.
    await api.reveal(marker.imagePath);
    const shown = await control<Record<string, { width: number; shown: boolean; pixels: number[][] }>>({ kind: 'webviewImages', file: 'red-box.png', points: [[380 + 85, 40 + 65], [50, 350]] });
    for (const id of ['original', 'overlay', 'masked']) {
      assert.equal(shown[id].width, 600, `${id} decoded in the restored webview`);
      assert.ok(shown[id].shown, `${id} is laid out`);
    }
    assert.deepEqual(shown.original.pixels, [[255, 0, 0], [128, 128, 128]]);
    assert.notDeepEqual(shown.overlay.pixels[0], shown.overlay.pixels[1], `the heatmap overlay is not blank: ${JSON.stringify(shown.overlay.pixels)}`);
    assert.ok(shown.masked.pixels[0][0] > 200, `masked pixels ${JSON.stringify(shown.masked.pixels)}`);
    assert.ok(shown.masked.pixels[1].every((c) => c > 220), `faded toward 255: ${JSON.stringify(shown.masked.pixels)}`);
    await control({ kind: 'screenshot', name: 'after-reload' });
  });

  test('the review report comes back, its script running, and its clicks answered', async () => {
    const marker = JSON.parse(fs.readFileSync(RELOAD_MARKER(), 'utf8')) as ReloadMarker;
    assert.ok(fs.existsSync(marker.report));
    const api = await testHooks();
    // Nothing in this extension host opened it: only the report panel serializer can have.
    const report = await reportRows({ rows: 3, thumbnails: 9, count: '3 of 3 rows' });
    assert.deepEqual(report, { rows: 3, thumbnails: 9, count: '3 of 3 rows' });
    // Under the report's own CSP, the one in the file (its script and style admitted by hash).
    const fileCsp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(fs.readFileSync(marker.report, 'utf8'))?.[1];
    assert.match(fileCsp ?? '', /^default-src 'none'.*script-src 'sha256-/);
    assert.deepEqual(await control({ kind: 'reportCsp' }), { policies: [fileCsp] });
    await control({ kind: 'screenshot', name: 'report-after-reload' });

    // A row click opens that image's heatmap panel with the run's question: the restored panel
    // reads the item's line from the output folder's results.jsonl.
    const outDir = path.dirname(marker.report);
    const results = path.join(outDir, 'results.jsonl');
    const readLines = () => fs.readFileSync(results, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; image: string; question: string; error?: unknown; maskedAnswer?: string; parameters: { contrast: number; kernel: number; gray: number }; layer: number });
    const lines = readLines();
    const row = lines.find((l) => !l.error && l.image !== marker.imagePath)!;
    await control({ kind: 'clickReport', selector: `#list .row[data-id="${row.id}"] .q` });
    const opened = await waitFor("the row's heatmap panel", () => api.panels().find((p) => p.imagePath === row.image && p.images), 60_000);
    assert.equal(opened.restored, false, 'opened by the click');
    assert.equal(opened.question, row.question);
    assert.deepEqual([opened.view.contrast, opened.view.kernel, opened.view.gray, opened.view.layer], [row.parameters.contrast, row.parameters.kernel, row.parameters.gray, row.layer]);
    const tabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs);
    // Closed so that the report is in front again (a hidden webview has no frame to click in).
    const heatmapTab = await waitFor('the heatmap tab', () => tabs().find((t) => t.label === `Heatmap: ${path.basename(row.image)}`));
    await vscode.window.tabGroups.close(heatmapTab);
    await waitFor('the heatmap tab closed', () => (tabs().some((t) => t.label === heatmapTab.label) ? undefined : true));

    // Re-run failed resumes the run from the request read back from the folder's settings.json:
    // the failed item is done again and a new report replaces the restored one.
    assert.ok(lines.some((l) => l.id === marker.failedId && l.error), 'an item is recorded as failed');
    const reportTabs = () => tabs().filter((t) => t.label.startsWith('Review: '));
    const before = await waitFor('the restored report', () => (reportTabs().length === 1 ? reportTabs()[0] : undefined));
    await control({ kind: 'clickReport', selector: '#rerun-failed' });
    const redone = await waitFor('the failed item redone', () => {
      const now = readLines();
      return now.length === 3 && now.every((l) => !l.error) ? now : undefined;
    }, 60_000);
    assert.match(redone.find((l) => l.id === marker.failedId)!.maskedAnswer ?? '', /You asked: where is the red box\?/);
    await waitFor('the new report in place of the restored one', () => (reportTabs().length === 1 && reportTabs()[0] !== before ? true : undefined));
    assert.deepEqual(await reportRows({ rows: 3, thumbnails: 9, count: '3 of 3 rows' }), { rows: 3, thumbnails: 9, count: '3 of 3 rows' });
    await vscode.window.tabGroups.close(reportTabs());
  });
});
