import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../../test/helpers';
import { checkInlineable, webviewCsp, webviewPage } from './webviewPage';

const nonce = Buffer.alloc(16, 7).toString('base64');
const parts = { nonce, lang: 'en', title: 'Heatmap <1>', strings: { ask: 'Ask "now" <b>' }, script: 'console.log(1 < 2);', style: 'body { color: red; }' };

describe('webview page', () => {
  it('carries its script and stylesheet inline under the nonce, and loads nothing', () => {
    const html = webviewPage(parts);
    assert.ok(html.includes(`<script nonce="${nonce}">\nconsole.log(1 < 2);\n</script>`));
    assert.ok(html.includes(`<style nonce="${nonce}">\nbody { color: red; }\n</style>`));
    // Nothing fetched: in code-server a webview's resource requests can miss the service worker after a reload.
    assert.doesNotMatch(html, /\s(src|href)=/);
    assert.doesNotMatch(html, /vscode-resource|vscode-cdn|https?:/);
    assert.ok(html.includes(`content="${webviewCsp(nonce)}"`));
  });

  it('has a strict CSP: nothing by default, images from blob: only, script and style by nonce only', () => {
    assert.equal(webviewCsp(nonce), `default-src 'none'; img-src blob:; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'`);
  });

  it('escapes the title and the texts it hands to the page', () => {
    const html = webviewPage(parts);
    assert.ok(html.includes('<title>Heatmap &lt;1&gt;</title>'));
    assert.ok(html.includes('data-strings="{&quot;ask&quot;:&quot;Ask \\&quot;now\\&quot; &lt;b&gt;&quot;}"'));
  });

  it('refuses a script or stylesheet that would end its element early, and a weak nonce', () => {
    assert.throws(() => webviewPage({ ...parts, script: 'let s = "</script><script>alert(1)";' }), /webview script cannot be inlined: it contains "<\/script"/);
    assert.throws(() => webviewPage({ ...parts, script: 'x = "<!--";' }), /contains "<!--"/);
    assert.throws(() => webviewPage({ ...parts, style: 'a{}</STYLE>' }), /stylesheet cannot be inlined: it contains "<\/STYLE"/);
    assert.throws(() => webviewPage({ ...parts, nonce: 'abc' }), /nonce/);
    assert.throws(() => webviewPage({ ...parts, nonce: `${nonce}" onload="x` }), /nonce/);
  });

  it('the built webview bundles and the stylesheet can be inlined', () => {
    for (const [name, element] of [['heatmap.js', 'script'], ['answers.js', 'script'], ['webview.css', 'style']] as const) {
      const text = fs.readFileSync(path.join(ROOT, 'dist', 'webview', name), 'utf8');
      assert.equal(checkInlineable(text, element, name), text);
    }
  });
});
