/**
 * After the window reload the main suite ends with: the heatmap panel is back (restored by the
 * panel serializer from the state its webview kept), with its question and control values, and
 * shows a heatmap computed again in a new engine process — read as pixels from the restored
 * webview (in code-server it once stayed blank: its script was fetched through a service worker
 * that the restored frame did not have; the page now carries it inline).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { control, testHooks, waitFor } from './helpers';
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
});
