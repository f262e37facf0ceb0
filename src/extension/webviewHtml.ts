/** The HTML shell of a webview: strict CSP with a per-load nonce, one script, one stylesheet, its texts. */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

function escapeAttribute(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, script: string, title: string, strings: object): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', name));
  const csp = [
    "default-src 'none'",
    // Rendered images arrive as bytes and are shown through blob: URLs; nothing is fetched from the network.
    `img-src blob: ${webview.cspSource}`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="${escapeAttribute(vscode.env.language)}">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" nonce="${nonce}" href="${asset('webview.css')}">
<title>${escapeAttribute(title)}</title>
</head>
<body>
<div id="app" data-nonce="${nonce}" data-strings="${escapeAttribute(JSON.stringify(strings))}"></div>
<script nonce="${nonce}" src="${asset(script)}"></script>
</body>
</html>`;
}

export function webviewRoots(extensionUri: vscode.Uri): vscode.Uri[] {
  return [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')];
}
