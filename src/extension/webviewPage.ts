/**
 * A webview's page, with its script and stylesheet inline under a per-load nonce: the page fetches
 * nothing. VS Code for the web (code-server) serves webview resources through a service worker,
 * and when several webviews start at once (panels restored after a window reload) a webview's
 * frame can come up without that worker: every resource request then goes to the literal
 * *.vscode-resource.vscode-cdn.net host and fails, and a page that loads its script that way
 * stays blank. No vscode import: the page is built and checked in unit and browser tests.
 */

export interface WebviewPageParts {
  /** Fresh for every load; admits the page's one script and one stylesheet. */
  nonce: string;
  lang: string;
  title: string;
  /** The page's texts, already translated by the host. */
  strings: object;
  /** The bundled script (dist/webview/NAME.js). */
  script: string;
  /** The stylesheet (dist/webview/webview.css). */
  style: string;
}

function escapeAttribute(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Text that can sit inside a <script> or <style> element unchanged: the HTML parser ends the
 * element at the first `</script` / `</style` and treats `<!--` in a script specially.
 */
export function checkInlineable(text: string, element: 'script' | 'style', what: string): string {
  const bad = new RegExp(`</${element}|<!--`, 'i').exec(text);
  if (bad) throw new Error(`${what} cannot be inlined: it contains "${bad[0]}" at offset ${bad.index}`);
  return text;
}

/** The CSP of every webview page: nothing from the network or the extension's folder; images only from blob: URLs made from the bytes the host sends. */
export function webviewCsp(nonce: string): string {
  return ["default-src 'none'", 'img-src blob:', `style-src 'nonce-${nonce}'`, `script-src 'nonce-${nonce}'`].join('; ');
}

export function webviewPage(p: WebviewPageParts): string {
  if (!/^[A-Za-z0-9+/=]{16,}$/.test(p.nonce)) throw new Error('a webview nonce must be base64 of at least 12 random bytes');
  return `<!DOCTYPE html>
<html lang="${escapeAttribute(p.lang)}">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${webviewCsp(p.nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${p.nonce}">
${checkInlineable(p.style, 'style', 'the webview stylesheet')}
</style>
<title>${escapeAttribute(p.title)}</title>
</head>
<body>
<div id="app" data-nonce="${p.nonce}" data-strings="${escapeAttribute(JSON.stringify(p.strings))}"></div>
<script nonce="${p.nonce}">
${checkInlineable(p.script, 'script', 'the webview script')}
</script>
</body>
</html>`;
}
