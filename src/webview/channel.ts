/** The webview's end of its channel with the host (rpc.ts's Endpoint over postMessage), its texts and its saved state. */
import { Endpoint, type Vocabulary } from '../shared/rpc';

interface VsCodeApi {
  postMessage(m: unknown): void;
  setState(s: unknown): void;
  getState(): unknown;
}
declare function acquireVsCodeApi(): VsCodeApi;

export function connect<Mine extends Vocabulary, Theirs extends Vocabulary>(): { host: Endpoint<Mine, Theirs>; api: VsCodeApi } {
  const api = acquireVsCodeApi();
  const host = new Endpoint<Mine, Theirs>({
    send: (m) => api.postMessage(m),
    onInvalid: (why) => console.warn(`attention-prompting webview: ${why}`),
  });
  window.addEventListener('message', (event: MessageEvent<unknown>) => host.receive(event.data));
  return { host, api };
}

/** The texts the host put in the page, already translated; a missing one shows its key rather than breaking the page. */
export function pageStrings<T extends object>(): T {
  const given = JSON.parse(document.getElementById('app')?.dataset.strings ?? '{}') as Record<string, unknown>;
  return new Proxy(given, { get: (o, key) => (typeof o[key as string] === 'string' ? o[key as string] : String(key)) }) as T;
}
