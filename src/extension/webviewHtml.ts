/** The HTML of a webview: webviewPage with the bundled script and stylesheet read from the extension's dist/webview. */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { webviewPage } from './webviewPage';

const assets = new Map<string, string>();

/** The files are part of the installed extension and do not change while it runs: read each once. */
function asset(extensionUri: vscode.Uri, name: string): string {
  const file = path.join(extensionUri.fsPath, 'dist', 'webview', name);
  let text = assets.get(file);
  if (text === undefined) {
    text = fs.readFileSync(file, 'utf8');
    assets.set(file, text);
  }
  return text;
}

export function webviewHtml(extensionUri: vscode.Uri, script: string, title: string, strings: object): string {
  return webviewPage({
    nonce: randomBytes(16).toString('base64'),
    lang: vscode.env.language,
    title,
    strings,
    script: asset(extensionUri, script),
    style: asset(extensionUri, 'webview.css'),
  });
}

/** What a webview may load from the extension's folder: nothing (its page carries everything inline). */
export const WEBVIEW_OPTIONS: vscode.WebviewOptions = { enableScripts: true, localResourceRoots: [] };
