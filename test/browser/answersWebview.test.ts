/**
 * The Answers view's webview script (dist/webview/answers.js) in headless Chromium, with a stand-in
 * for VS Code's webview API: every card's buttons say which answer they act on (a screen reader
 * lists "Re-ask" ten times otherwise), they work from the keyboard on the right card, and the view
 * passes an axe check of roles and labels.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { AnswerEntry, AnswerSide } from '../../src/shared/protocol';
import { ROOT } from '../helpers';
import { expectNoSeriousViolations } from './axe';
import { launchChromium } from './launch';

/** The host's English texts (src/extension/webviewTranslations.ts) for what this test reads. */
const strings = { stop: 'Stop', reask: 'Re-ask', openImage: 'Open image', reaskLabel: 'Re-ask: {0}', stopLabel: 'Stop the answer to {0}', openImageLabel: 'Open image for {0}', history: 'History', clear: 'Clear', maskedImage: 'Masked image', originalImage: 'Original image' };

const side = (status: AnswerSide['status'], text = ''): AnswerSide => ({ status, text });
const entry = (id: string, question: string, status: AnswerSide['status'], fileName: string): AnswerEntry => ({
  id,
  imagePath: `/data/${fileName}`,
  fileName,
  question,
  model: 'gpt-4o',
  host: 'api.openai.com',
  at: 0,
  masked: side(status, 'red'),
  original: side(status === 'streaming' ? 'waiting' : status, 'blue'),
});

describe('answers webview in a browser', () => {
  let browser: Browser;
  let page: Page;
  before(async () => {
    browser = await launchChromium();
    page = await browser.newPage();
    // As the host builds it (webviewPage): a language, a title, the texts on #app.
    await page.setContent(`<!DOCTYPE html><html lang="en"><head><title>Answers</title></head><body><div id="app"></div></body></html>`);
    await page.addStyleTag({ path: path.join(ROOT, 'media', 'webview.css') });
    await page.evaluate((s) => {
      document.getElementById('app')!.dataset.strings = JSON.stringify(s);
      const w = window as unknown as { posted: unknown[]; acquireVsCodeApi: () => unknown };
      w.posted = [];
      w.acquireVsCodeApi = () => ({ postMessage: (m: unknown) => w.posted.push(m), setState: () => undefined, getState: () => undefined });
    }, strings);
    await page.addScriptTag({ path: path.join(ROOT, 'dist', 'webview', 'answers.js') });
    await page.evaluate(
      (entries) => window.postMessage({ rpc: 'notify', kind: 'entries', payload: { entries } }, '*'),
      // Two images: each has its heading and its list of cards.
      [entry('a1', 'What colour is the box?', 'done', 'boxes.png'), entry('a2', 'Where is the dog?', 'streaming', 'dog.png')],
    );
    await page.waitForFunction(() => document.querySelectorAll('.entry').length === 2, undefined, { timeout: 10_000 });
  });
  after(() => browser?.close());

  const posted = () => page.evaluate(() => (window as unknown as { posted: Array<{ kind: string; payload: unknown }> }).posted);

  it('every card’s buttons name the answer they act on', async () => {
    const names = await page.locator('.entry').evaluateAll((cards) => cards.map((c) => [...c.querySelectorAll('vscode-button')].map((b) => b.getAttribute('aria-label'))));
    assert.deepEqual(names, [
      ['Re-ask: What colour is the box?', 'Open image for What colour is the box?'],
      ['Stop the answer to Where is the dog?', 'Open image for Where is the dog?'],
    ]);
    // As the browser's accessibility tree exposes them.
    for (const name of ['Re-ask: What colour is the box?', 'Stop the answer to Where is the dog?', 'Open image for Where is the dog?']) {
      assert.equal(await page.getByRole('button', { name, exact: true }).count(), 1, name);
    }
    // The visible text stays short (and is part of the name, as WCAG's "label in name" asks).
    assert.deepEqual(await page.locator('.entry vscode-button').allTextContents(), ['Re-ask', 'Open image', 'Stop', 'Open image']);
  });

  it('the buttons work from the keyboard, on their own card', async () => {
    await page.getByRole('button', { name: 'Stop the answer to Where is the dog?' }).focus();
    await page.keyboard.press('Enter');
    // Back one control: the first card's Open image.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Space');
    await page.waitForFunction(() => (window as unknown as { posted: unknown[] }).posted.length >= 3, undefined, { timeout: 10_000 }).catch(() => undefined);
    assert.deepEqual((await posted()).slice(1).map((m) => [m.kind, m.payload]), [
      ['stop', { id: 'a2' }],
      ['reveal', { id: 'a1' }],
    ]);
  });

  it('passes an axe check of roles and labels', async () => {
    await expectNoSeriousViolations(page);
  });
});
