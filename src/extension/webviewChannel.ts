/**
 * The host's end of a webview channel: the same Endpoint as the engine channel, over
 * postMessage, with every incoming message checked field by field (a webview is less trusted).
 * Messages wait until the webview says it is ready (earlier ones would be lost).
 */
import type * as vscode from 'vscode';
import { Endpoint, type Checks, type Vocabulary } from '../shared/rpc';

export interface WebviewChannel<Mine extends Vocabulary, Theirs extends Vocabulary> {
  endpoint: Endpoint<Mine, Theirs>;
  /** Call when the webview (re)loads and says it is ready; until then messages are held. */
  markReady(): void;
  dispose(): void;
}

export function webviewChannel<Mine extends Vocabulary, Theirs extends Vocabulary>(
  webview: vscode.Webview,
  checks: Checks<Mine>,
  log: (message: string) => void,
): WebviewChannel<Mine, Theirs> {
  let ready = false;
  let held: unknown[] = [];
  const endpoint = new Endpoint<Mine, Theirs>({
    send: (m) => {
      if (ready) void webview.postMessage(m);
      else held.push(m);
    },
    checks,
    onInvalid: (why) => log(`webview message refused: ${why}`),
  });
  const subscription = webview.onDidReceiveMessage((m: unknown) => endpoint.receive(m));
  return {
    endpoint,
    markReady: () => {
      ready = true;
      const queued = held;
      held = [];
      for (const m of queued) void webview.postMessage(m);
    },
    dispose: () => subscription.dispose(),
  };
}
