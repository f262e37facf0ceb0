/**
 * The heatmap panel's webview script (dist/webview/heatmap.js) in headless Chromium, with a
 * stand-in for VS Code's webview API: images arrive as PNG bytes and are shown through blob: URLs,
 * texts come from the page (translated by the host), a failed heatmap shows the error with Retry
 * and Show Log instead of empty frames and controls, and the state kept for a window reload.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import * as fs from 'node:fs';
import { webviewPage } from '../../src/extension/webviewPage';
import type { PanelState, ViewParameters } from '../../src/shared/protocol';
import { ROOT } from '../helpers';
import { expectNoSeriousViolations } from './axe';
import { launchChromium } from './launch';

const view: ViewParameters = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', layer: null, opacity: 0.5, aux: 'clip', hint: '' };
const state = (over: Partial<PanelState> = {}): PanelState => ({ imagePath: '/data/red box.png', fileName: 'red box.png', question: 'where is red?', view, canAsk: true, ...over });
/** A translation, to see that the page shows the host's texts. */
const strings = { ask: 'Fragen', askTitle: 'Ask the model ({0})', retry: 'Erneut versuchen', showLog: 'Protokoll anzeigen', defaultLayer: 'Standard ({0})' };
/** How late the stand-in delivers each host message to the page's handlers. */
const MESSAGE_LATENCY_MS = 150;

describe('heatmap webview in a browser', () => {
  let browser: Browser;
  let page: Page;
  before(async () => {
    browser = await launchChromium();
    page = await browser.newPage();
    // As the host builds it (webviewPage): a language and a title.
    await page.setContent(`<!DOCTYPE html><html lang="en"><head><title>Heatmap</title></head><body><div id="app"></div></body></html>`);
    await page.addStyleTag({ path: path.join(ROOT, 'media', 'webview.css') });
    await page.evaluate(([s, latency]) => {
      document.getElementById('app')!.dataset.strings = JSON.stringify(s);
      const w = window as unknown as { posted: unknown[]; saved: unknown; acquireVsCodeApi: () => unknown };
      w.posted = [];
      w.acquireVsCodeApi = () => ({ postMessage: (m: unknown) => w.posted.push(m), setState: (v: unknown) => (w.saved = v), getState: () => w.saved });
      // A busy machine, made certain: the page's message handlers run late (in order), so a check
      // that reads the page before the state it expects has applied fails every time, not 1 run in 6.
      const add = window.addEventListener.bind(window);
      window.addEventListener = ((type: string, listener: EventListener, options?: boolean | AddEventListenerOptions) =>
        type === 'message' ? add(type, (e: Event) => setTimeout(() => listener(e), latency), options) : add(type, listener, options)) as typeof window.addEventListener;
    }, [strings, MESSAGE_LATENCY_MS] as const);
    await page.addScriptTag({ path: path.join(ROOT, 'dist', 'webview', 'heatmap.js') });
  });
  after(() => browser?.close());

  const fromHost = (kind: string, payload: unknown) => page.evaluate(([k, p]) => window.postMessage({ rpc: 'notify', kind: k, payload: p }, '*'), [kind, payload] as const);
  const posted = () => page.evaluate(() => (window as unknown as { posted: Array<{ kind: string; payload: unknown }> }).posted);
  const visible = (ids: string[]) =>
    // What a user sees: laid out with a size (the stylesheet's display rules must not undo `hidden`).
    page.evaluate((list) => Object.fromEntries(list.map((id) => [id, document.getElementById(id)!.getBoundingClientRect().height > 0])), ids);
  /** Waits (bounded) until these elements' visibility is `expected`, then checks it: messages apply asynchronously. */
  const expectVisible = async (expected: Record<string, boolean>) => {
    const ids = Object.keys(expected);
    await page
      .waitForFunction(
        (want) => Object.entries(want).every(([id, shown]) => (document.getElementById(id)!.getBoundingClientRect().height > 0) === shown),
        expected,
        { timeout: 10_000 },
      )
      .catch(() => undefined);
    assert.deepEqual(await visible(ids), expected);
  };

  it('says it is ready, and shows the host’s texts', async () => {
    assert.deepEqual((await posted())[0], { rpc: 'notify', kind: 'ready', payload: undefined });
    assert.equal(await page.textContent('#ask'), 'Fragen');
    assert.equal(await page.textContent('#retry'), 'Erneut versuchen');
  });

  it('shows PNG bytes through blob: URLs, and keeps what a reload needs', async () => {
    await fromHost('state', state({ numLayers: 4, defaultLayer: 2 }));
    const png = async (r: number) => new Uint8Array(await sharp({ create: { width: 40, height: 30, channels: 3, background: { r, g: 0, b: 0 } } }).png().toBuffer());
    await fromHost('images', { original: await png(10), overlay: await png(20), masked: await png(30), width: 40, height: 30 });
    await page.waitForFunction(() => ['original', 'overlay', 'masked'].every((id) => (document.getElementById(id) as HTMLImageElement).naturalWidth === 40));
    const srcs = await page.evaluate(() => ['original', 'overlay', 'masked'].map((id) => (document.getElementById(id) as HTMLImageElement).src));
    assert.ok(srcs.every((s) => s.startsWith('blob:')), srcs.join(' '));
    await expectVisible({ images: true, controls: true, failure: false });
    assert.match((await page.textContent('#layer')) ?? '', /Standard \(2\)/);
    const saved = await page.evaluate(() => (window as unknown as { saved: unknown }).saved);
    assert.deepEqual(saved, { imagePath: '/data/red box.png', question: 'where is red?', view });
  });

  it('a failed heatmap shows the error with Retry and Show Log, not empty frames and live controls', async () => {
    await fromHost('state', state({ error: { code: 'bad-image', message: 'red box.png could not be read as an image.' } }));
    await expectVisible({ failure: true, retry: true, showLog: true, images: false, controls: false });
    assert.equal(await page.textContent('#failureMessage'), 'red box.png could not be read as an image.');
    assert.equal(await page.evaluate(() => (document.getElementById('save') as HTMLElement & { disabled: boolean }).disabled), true);
    await page.click('#retry');
    await page.click('#showLog');
    const kinds = (await posted()).map((m) => m.kind);
    assert.deepEqual(kinds.slice(-2), ['retry', 'showLog']);
    // A new computation clears the failure.
    await fromHost('state', state());
    await expectVisible({ failure: false, images: true, controls: true });
  });

  it('ignores messages that are not the protocol’s', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.evaluate(() => window.postMessage({ type: 'images', images: 42 }, '*'));
    await page.evaluate(() => window.postMessage('hello', '*'));
    await page.waitForTimeout(MESSAGE_LATENCY_MS + 200);
    assert.deepEqual(errors, []);
  });

  /** Waits (bounded) until the page has posted `n` messages of this kind. */
  const expectPosted = async (kind: string, n: number) => {
    await page
      .waitForFunction(([k, want]) => (window as unknown as { posted: Array<{ kind: string }> }).posted.filter((m) => m.kind === k).length >= want, [kind, n] as const, { timeout: 10_000 })
      .catch(() => undefined);
    assert.equal((await posted()).filter((m) => m.kind === kind).length, n, `${kind} messages`);
  };
  const askCount = async () => (await posted()).filter((m) => m.kind === 'ask').length;

  it('the question box sends with Ctrl+Enter and with ⌘+Enter, and not with Enter alone', async () => {
    await fromHost('state', state());
    await expectVisible({ images: true, controls: true, failure: false });
    const before = await askCount();
    await page.focus('#question');
    await page.keyboard.type('where is the red box?');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+Enter');
    await expectPosted('ask', before + 1);
    await page.keyboard.press('Meta+Enter');
    await expectPosted('ask', before + 2);
    const asks = (await posted()).filter((m) => m.kind === 'ask').slice(-2);
    assert.deepEqual(asks.map((m) => m.payload), [{ question: 'where is the red box?' }, { question: 'where is the red box?' }]);
  });

  it('keyboard only: Tab reaches every control in order, Enter and Space press the buttons', async () => {
    await fromHost('state', state());
    await expectVisible({ images: true, controls: true, failure: false });
    // From the first control (the question box), Tab walks through the rest and back out.
    await page.focus('#question');
    const order = [await page.evaluate(() => document.activeElement?.id ?? '')];
    for (let i = 0; i < 11; i++) {
      await page.keyboard.press('Tab');
      // Focus inside a component's shadow root shows as the component itself.
      order.push(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    assert.deepEqual(order, ['question', 'ask', 'save', 'copy', 'contrast', 'kernel', 'gray', 'interpolation', 'aux', 'layer', 'opacity', 'hint']);
    const saves = (await posted()).filter((m) => m.kind === 'save').length;
    await page.focus('#save');
    await page.keyboard.press('Enter');
    await expectPosted('save', saves + 1);
    await page.keyboard.press('Space');
    await expectPosted('save', saves + 2);
    // A slider moves with the arrow keys, and the change reaches the host.
    const views = (await posted()).filter((m) => m.kind === 'viewChanged').length;
    await page.focus('#contrast');
    await page.keyboard.press('ArrowRight');
    await expectPosted('viewChanged', views + 1);
    // A failed panel: Retry and Show Log are reachable and work from the keyboard.
    await fromHost('state', state({ error: { code: 'bad-image', message: 'red box.png could not be read as an image.' } }));
    await expectVisible({ failure: true, retry: true, controls: false });
    const retries = (await posted()).filter((m) => m.kind === 'retry').length;
    await page.focus('#question');
    const failedOrder: string[] = [];
    for (let i = 0; i < 2; i++) {
      await page.keyboard.press('Tab');
      failedOrder.push(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    assert.deepEqual(failedOrder, ['retry', 'showLog'], 'Ask, Save and Copy are disabled: the question box, then Retry and Show Log');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');
    await expectPosted('retry', retries + 1);
    await fromHost('state', state());
    await expectVisible({ failure: false, images: true, controls: true });
  });

  it('the Ask button’s tooltip names the send keys of the user’s platform', async () => {
    await fromHost('state', state());
    await page.waitForFunction(() => document.getElementById('ask')!.title.startsWith('Ask the model'), undefined, { timeout: 10_000 }).catch(() => undefined);
    assert.equal(await page.getAttribute('#ask', 'title'), 'Ask the model (Ctrl+Enter)');
    // The same page on a Mac (the webview's platform: the extension host may run elsewhere).
    const mac = await browser.newContext({ userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36' });
    try {
      const macPage = await mac.newPage();
      await macPage.setContent(`<!DOCTYPE html><html lang="en"><head><title>Heatmap</title></head><body><div id="app"></div></body></html>`);
      await macPage.evaluate((s) => {
        document.getElementById('app')!.dataset.strings = JSON.stringify(s);
        Object.assign(window, { acquireVsCodeApi: () => ({ postMessage: () => undefined, setState: () => undefined, getState: () => undefined }) });
      }, strings);
      await macPage.addScriptTag({ path: path.join(ROOT, 'dist', 'webview', 'heatmap.js') });
      assert.equal(await macPage.getAttribute('#ask', 'title'), 'Ask the model (⌘+Enter)');
    } finally {
      await mac.close();
    }
  });

  it('roles and labels pass an axe check, in the working and in the failed panel', async () => {
    await expectNoSeriousViolations(page);
    await fromHost('state', state({ error: { code: 'bad-image', message: 'red box.png could not be read as an image.' } }));
    await expectVisible({ failure: true, controls: false });
    await expectNoSeriousViolations(page);
    await fromHost('state', state());
    await expectVisible({ failure: false, controls: true });
  });
});

describe('heatmap webview page as the host builds it', () => {
  // In code-server a webview restored after a window reload can come up without the service worker
  // that serves its resources: every request then fails. The page must work with no request at all.
  it('runs and is styled with every network request refused, and its CSP stops a script without the nonce', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const nonce = Buffer.from('0123456789abcdef').toString('base64');
      const asset = (name: string) => fs.readFileSync(path.join(ROOT, 'dist', 'webview', name), 'utf8');
      const html = webviewPage({ nonce, lang: 'en', title: 'Heatmap', strings, script: asset('heatmap.js'), style: asset('webview.css') });
      const pageUrl = 'http://webview.invalid/index.html';
      const requests: string[] = [];
      await page.route('**/*', (route) => {
        if (route.request().url() === pageUrl) return route.fulfill({ contentType: 'text/html', body: html });
        requests.push(route.request().url());
        return route.abort();
      });
      await page.addInitScript(() => {
        const w = window as unknown as { posted: unknown[]; acquireVsCodeApi: () => unknown };
        w.posted = [];
        w.acquireVsCodeApi = () => ({ postMessage: (m: unknown) => w.posted.push(m), setState: () => undefined, getState: () => undefined });
      });
      await page.goto(pageUrl);
      await page.waitForFunction(() => (window as unknown as { posted: unknown[] }).posted.length > 0);
      assert.deepEqual(await page.evaluate(() => (window as unknown as { posted: unknown[] }).posted[0]), { rpc: 'notify', kind: 'ready', payload: undefined });
      assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('.toolbar')!).display), 'flex', 'the stylesheet applies');
      await page.evaluate(() => {
        const injected = document.createElement('script');
        injected.textContent = 'window.injectedRan = true';
        document.body.append(injected);
      });
      assert.equal(await page.evaluate(() => (window as unknown as { injectedRan?: boolean }).injectedRan), undefined);
      assert.deepEqual(requests, []);
    } finally {
      await browser.close();
    }
  });
});
