/**
 * An accessibility check with axe-core (the engine behind most a11y linters), injected into the
 * page under test: roles, names and labels, ARIA use, and optionally colour contrast. Only
 * serious and critical findings fail, listed with the elements they concern.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT } from '../helpers';

/** Rules about what assistive technology reads: names, labels, roles and ARIA. */
export const ROLE_AND_LABEL_RULES = [
  'aria-allowed-attr',
  'aria-allowed-role',
  'aria-command-name',
  'aria-hidden-focus',
  'aria-input-field-name',
  'aria-prohibited-attr',
  'aria-required-attr',
  'aria-required-children',
  'aria-required-parent',
  'aria-roles',
  'aria-toggle-field-name',
  'aria-valid-attr',
  'aria-valid-attr-value',
  'button-name',
  'document-title',
  'duplicate-id-aria',
  'html-has-lang',
  'image-alt',
  'label',
  'list',
  'listitem',
  'nested-interactive',
  'select-name',
  'scrollable-region-focusable',
  'td-headers-attr',
  'th-has-data-cells',
];

interface Finding {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown; failureSummary?: string }>;
}

const AXE_SCRIPT = path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');

/** Runs axe in `page` with `rules` and fails on any serious or critical violation. */
export async function expectNoSeriousViolations(page: Page, rules: string[] = ROLE_AND_LABEL_RULES): Promise<void> {
  if (!fs.existsSync(AXE_SCRIPT)) throw new Error(`${AXE_SCRIPT} is missing: axe-core is a dev dependency (package.json); run npm ci to install it.`);
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE_SCRIPT });
  const violations = await page.evaluate(
    async (only) => {
      const axe = (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: Finding[] }> } }).axe;
      const result = await axe.run(document, { runOnly: { type: 'rule', values: only }, resultTypes: ['violations'] });
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
    },
    rules,
  );
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], JSON.stringify(serious, null, 1));
}
