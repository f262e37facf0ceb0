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
