/** What the suite files share: the driver's control channel, the test hooks, image checks. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { TEST_HOOKS_COMMAND, type ExtensionTestApi } from '../../../src/extension/testHooks';

// sharp comes from the repository's node_modules (the same version the VSIX ships).
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const sharp = require('sharp') as typeof import('sharp');

export const CONTROL = process.env.E2E_CONTROL_URL!;
export const PHASE = process.env.E2E_PHASE ?? 'trusted';
export const WORKSPACE = process.env.E2E_WORKSPACE!;
export const RED = { left: 380, top: 40, width: 170, height: 130 };
export const image = (name: string) => path.join(WORKSPACE, name);

export async function control<T = Record<string, unknown>>(action: Record<string, unknown>): Promise<T> {
  const r = await fetch(`${CONTROL}/__control/action`, { method: 'POST', body: JSON.stringify(action) });
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new Error(`driver action ${String(action.kind)} failed: ${body.error}`);
  return body;
}

interface VlmLog {
  aborted: number;
  requests: Array<{ question: string; model: string; image?: { mime: string; width: number; height: number; rgb: string } }>;
}
export const vlmLog = async (): Promise<VlmLog> => (await fetch(`${CONTROL}/__vlm/requests`)).json() as Promise<VlmLog>;

/** Earlier toasts (at most three show at once) must not hide the one a test waits for. */
export async function clearNotifications(): Promise<void> {
  await vscode.commands.executeCommand('notifications.clearAll');
  // The workbench removes toasts with an animation; a toast added meanwhile can be swept along.
  await new Promise((r) => setTimeout(r, 500));
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Reads the UI until what it shows satisfies `ok` (bounded), and returns the last reading either
 * way, for the caller's assertion to show: a webview applies a host message asynchronously, so a
 * read right after the host's side changed can see the previous state.
 */
export async function settled<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The Answers view's text, once it matches `expected` (or the last text read, for the assertion). */
export const answersText = (expected: RegExp) => settled(() => control<{ text: string }>({ kind: 'answersText' }), (v) => expected.test(v.text));

/** The open quick pick's rows (label and description), once `ok` holds for them: a pick can fill its list after it opens. */
export const quickPickItems = (ok: (items: string[]) => boolean) => settled(() => control<{ items: string[] }>({ kind: 'quickPickItems' }), (v) => ok(v.items));

export interface ReportRows {
  rows: number;
  thumbnails: number;
  count: string;
}
/** The review report webview's rows, once they are `expected` (or the last reading, for the assertion). */
export const reportRows = (expected: ReportRows) =>
  settled(() => control<ReportRows>({ kind: 'reportRows' }), (v) => v.rows === expected.rows && v.thumbnails === expected.thumbnails && v.count === expected.count);

export async function rgbOf(png: Uint8Array): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(Buffer.from(png)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export function meanIn(img: { data: Buffer; width: number }, region: typeof RED, channel: number, inside: boolean): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < img.data.length / 3; i++) {
    const x = i % img.width;
    const y = Math.floor(i / img.width);
    const isIn = x >= region.left && x < region.left + region.width && y >= region.top && y < region.top + region.height;
    if (isIn === inside) {
      sum += img.data[i * 3 + channel];
      n++;
    }
  }
  return sum / n;
}


/** The extension's test hooks: activate returns nothing; the hooks come from a command that exists only under the test environment. */
export async function testHooks(): Promise<ExtensionTestApi> {
  const ext = vscode.extensions.getExtension('attention-prompting.attention-prompting');
  if (!ext) throw new Error('the VSIX is not installed');
  const exported = await ext.activate();
  if (exported !== undefined) throw new Error('activate must not return test hooks');
  const hooks = await vscode.commands.executeCommand<ExtensionTestApi | undefined>(TEST_HOOKS_COMMAND);
  if (!hooks) throw new Error(`${TEST_HOOKS_COMMAND} returned nothing`);
  return hooks;
}
