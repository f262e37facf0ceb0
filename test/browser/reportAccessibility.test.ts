/**
 * The batch report used without a mouse and with assistive technology, in headless Chromium from
 * disk: Tab reaches every control, the sort headers are buttons whose column says how it is
 * sorted (aria-sort), rows open with Enter or Space inside VS Code, an axe check of roles, labels
 * and contrast passes; and its colours follow VS Code's theme inside VS Code (the --vscode-*
 * variables and body classes a webview gets), the browser's light or dark scheme outside it, and
 * high contrast both ways.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { writeReport } from '../../src/core/batch/report';
import { ROLE_AND_LABEL_RULES, expectNoSeriousViolations } from './axe';
import { scoredOutput } from './scoredOutput';
import { launchChromium } from './launch';

/** What VS Code's webview provides: the page finds it at load (rows become focusable, Re-run failed shows). */
const inVsCode = (page: Page) =>
  page.addInitScript(() => {
    const sent: unknown[] = [];
    Object.assign(window, { sent, acquireVsCodeApi: () => ({ postMessage: (m: unknown) => sent.push(m) }) });
  });
const sent = (page: Page) => page.evaluate(() => (window as unknown as { sent: Array<{ kind: string; payload: unknown }> }).sent);

/** The focused element, named the way the test speaks of it. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return '';
    if (el.dataset.sort) return `sort:${el.dataset.sort}`;
    if (el.dataset.outcome) return `outcome:${el.dataset.outcome}`;
    if (el.classList.contains('row')) return `row:${el.dataset.id}`;
    return el.id;
  });

/** The sort state each sortable column announces. */
const sortState = (page: Page) =>
  page.evaluate(() => Object.fromEntries([...document.querySelectorAll<HTMLElement>('[data-sort]')].map((b) => [b.dataset.sort, b.closest('[role=columnheader]')?.getAttribute('aria-sort') ?? 'no columnheader'])));

const rowIds = (page: Page) => page.locator('#list .row').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id));

describe('batch report: keyboard, roles and themes', () => {
  let browser: Browser;
  let report: string;
  before(async () => {
    // 12 results: the four outcomes, two categories, the last two failed.
    report = await writeReport(await scoredOutput(12, 2));
    browser = await launchChromium();
  });
  after(() => browser?.close());

  it('keyboard only: Tab reaches every control, then the rows; Enter and Space sort and open', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await inVsCode(page);
    await page.goto(`file://${report}`);
    await page.waitForFunction(() => /rows$/.test(document.getElementById('count')?.textContent ?? ''));
    await page.focus('#filter');
    const order = [await focused(page)];
    for (let i = 0; i < 11; i++) {
      await page.keyboard.press('Tab');
      order.push(await focused(page));
    }
    assert.deepEqual(order, [
      'filter',
      'status',
      'category',
      'outcome:all',
      'outcome:only-masked',
      'outcome:only-original',
      'outcome:both-wrong',
      'rerun-failed',
      'sort:id',
      'sort:outcome',
      'sort:ms',
      'row:item0',
    ]);
    // Sorting from the keyboard: each column says how it sorts, and the rows follow.
    assert.deepEqual(await sortState(page), { id: 'ascending', outcome: 'none', ms: 'none' });
    await page.focus('[data-sort="ms"]');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('[data-sort="ms"]')?.closest('[role=columnheader]')?.getAttribute('aria-sort') === 'ascending', undefined, { timeout: 10_000 }).catch(() => undefined);
    assert.deepEqual(await sortState(page), { id: 'none', outcome: 'none', ms: 'ascending' });
    assert.deepEqual(await rowIds(page), Array.from({ length: 12 }, (_, i) => `item${i}`), 'ms ascending (item i took i ms)');
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelector('[data-sort="ms"]')?.closest('[role=columnheader]')?.getAttribute('aria-sort') === 'descending', undefined, { timeout: 10_000 }).catch(() => undefined);
    assert.deepEqual(await sortState(page), { id: 'none', outcome: 'none', ms: 'descending' });
    assert.deepEqual(await rowIds(page), Array.from({ length: 12 }, (_, i) => `item${11 - i}`), 'ms descending');
    // The outcome filter and Re-run failed from the keyboard.
    await page.focus('[data-outcome="only-masked"]');
    await page.keyboard.press('Space');
    await page.waitForFunction(() => /^3 of 12 rows$/.test(document.getElementById('count')?.textContent ?? ''), undefined, { timeout: 10_000 }).catch(() => undefined);
    assert.match(await page.locator('#count').innerText(), /^3 of 12 rows$/);
    await page.focus('[data-outcome="all"]');
    await page.keyboard.press('Enter');
    await page.focus('#rerun-failed');
    await page.keyboard.press('Enter');
    // A row opens with Enter and with Space.
    await page.focus('#list .row[data-id="item3"]');
    await page.keyboard.press('Enter');
    await page.focus('#list .row[data-id="item4"]');
    await page.keyboard.press('Space');
    await page.waitForFunction(() => (window as unknown as { sent: unknown[] }).sent.length >= 3, undefined, { timeout: 10_000 }).catch(() => undefined);
    assert.deepEqual(
      (await sent(page)).map((m) => [m.kind, m.payload]),
      [
        ['rerunFailed', undefined],
        ['openItem', { id: 'item3' }],
        ['openItem', { id: 'item4' }],
      ],
    );
    await page.close();
  });

  it('roles, labels and contrast pass an axe check, in a browser (light and dark) and inside VS Code', async () => {
    // axe is injected as a script: the report's own CSP (hashes of its script and style) would refuse it.
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1400, height: 900 } });
    try {
      for (const colorScheme of ['light', 'dark'] as const) {
        const page = await context.newPage();
        await page.emulateMedia({ colorScheme });
        await page.goto(`file://${report}`);
        await page.waitForFunction(() => /rows$/.test(document.getElementById('count')?.textContent ?? ''));
        await expectNoSeriousViolations(page, [...ROLE_AND_LABEL_RULES, 'color-contrast']);
        await page.close();
      }
      const page = await context.newPage();
      await inVsCode(page);
      await page.goto(`file://${report}`);
      await page.waitForFunction(() => /rows$/.test(document.getElementById('count')?.textContent ?? ''));
      await expectNoSeriousViolations(page);
      await page.close();
    } finally {
      await context.close();
    }
  });

  /** Computed colours of the parts that carry them. */
  const colours = (page: Page) =>
    page.evaluate(() => {
      const style = (selector: string) => getComputedStyle(document.querySelector(selector)!);
      return {
        text: style('body').color,
        background: style('body').backgroundColor,
        bar: style('.bar').backgroundColor,
        header: style('.head').backgroundColor,
        error: style('.row.error .err').color,
        button: `${style('[data-outcome="both-wrong"]').color} on ${style('[data-outcome="both-wrong"]').backgroundColor}`,
        input: `${style('#filter').color} on ${style('#filter').backgroundColor}`,
        pressed: style('[aria-pressed="true"]').outlineColor,
        line: style('#list .row').borderBottomColor,
      };
    });
  const openReport = async (page: Page) => {
    await page.goto(`file://${report}`);
    await page.waitForFunction(() => /rows$/.test(document.getElementById('count')?.textContent ?? ''));
    // The failed rows (the last two) in view, for their error colour.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForFunction(() => !!document.querySelector('#list .row.error .err'), undefined, { timeout: 10_000 });
  };
  /** What VS Code does to every webview: the theme's colours as --vscode-* variables on <html>, its kind as a body class. */
  const applyTheme = (page: Page, kind: string, variables: Record<string, string>) =>
    page.evaluate(
      ([k, vars]) => {
        for (const [name, value] of Object.entries(vars)) document.documentElement.style.setProperty(`--vscode-${name}`, value);
        document.body.classList.add(...k.split(' '));
      },
      [kind, variables] as const,
    );

  it('outside VS Code it follows the browser’s light or dark scheme', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.emulateMedia({ colorScheme: 'light' });
    await openReport(page);
    const light = await colours(page);
    assert.equal(light.background, 'rgb(255, 255, 255)');
    assert.equal(light.bar, light.background, 'the sticky bar hides the rows scrolling under it');
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await colours(page);
    assert.equal(dark.background, 'rgb(30, 30, 30)');
    assert.equal(dark.text, 'rgb(221, 221, 221)');
    assert.notEqual(dark.error, light.error, 'the error colour is lighter on a dark page (axe checks its contrast)');
    assert.notEqual(dark.header, light.header);
    await page.close();
  });

  it('inside VS Code it takes the theme’s colours, and high contrast its contrast borders', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await inVsCode(page);
    // The browser's own scheme says light: the theme's variables must still win.
    await page.emulateMedia({ colorScheme: 'light' });
    await openReport(page);
    await applyTheme(page, 'vscode-dark', {
      foreground: 'rgb(200, 201, 202)',
      'editor-background': 'rgb(1, 2, 3)',
      'editorWidget-background': 'rgb(4, 5, 6)',
      errorForeground: 'rgb(250, 100, 100)',
      'button-secondaryForeground': 'rgb(210, 211, 212)',
      'button-secondaryBackground': 'rgb(7, 8, 9)',
      'input-foreground': 'rgb(220, 221, 222)',
      'input-background': 'rgb(10, 11, 12)',
      focusBorder: 'rgb(0, 127, 212)',
      'panel-border': 'rgb(60, 61, 62)',
    });
    assert.deepEqual(await colours(page), {
      text: 'rgb(200, 201, 202)',
      background: 'rgb(1, 2, 3)',
      bar: 'rgb(1, 2, 3)',
      header: 'rgb(4, 5, 6)',
      error: 'rgb(250, 100, 100)',
      button: 'rgb(210, 211, 212) on rgb(7, 8, 9)',
      input: 'rgb(220, 221, 222) on rgb(10, 11, 12)',
      pressed: 'rgb(0, 127, 212)',
      line: 'rgb(60, 61, 62)',
    });
    // A high-contrast theme: its contrast borders, no tints, no faded text.
    await applyTheme(page, 'vscode-high-contrast', { contrastBorder: 'rgb(111, 195, 223)', contrastActiveBorder: 'rgb(243, 133, 24)' });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForFunction(() => !!document.querySelector('#list .row.only-masked'), undefined, { timeout: 10_000 });
    const contrast = await colours(page);
    assert.equal(contrast.line, 'rgb(111, 195, 223)');
    assert.equal(contrast.pressed, 'rgb(243, 133, 24)');
    const marked = await page.evaluate(() => {
      const row = getComputedStyle(document.querySelector('#list .row.only-masked')!);
      return { tint: row.backgroundColor, edge: `${row.borderLeftWidth} ${row.borderLeftStyle} ${row.borderLeftColor}`, faded: getComputedStyle(document.querySelector('#list .muted')!).opacity };
    });
    assert.deepEqual(marked, { tint: 'rgba(0, 0, 0, 0)', edge: '3px double rgb(111, 195, 223)', faded: '1' });
    await page.close();
  });

  it('with the system’s forced colours (Windows high contrast) the outcome rows stay marked and no text is faded', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.emulateMedia({ forcedColors: 'active' });
    await page.goto(`file://${report}`);
    await page.waitForFunction(() => !!document.querySelector('#list .row.only-masked'), undefined, { timeout: 10_000 });
    const marked = await page.evaluate(() => ({
      edge: getComputedStyle(document.querySelector('#list .row.only-masked')!).borderLeftWidth,
      faded: getComputedStyle(document.querySelector('#list .muted')!).opacity,
    }));
    assert.deepEqual(marked, { edge: '3px', faded: '1' });
    await page.close();
  });
});
