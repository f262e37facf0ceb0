/**
 * l10n/bundle.l10n.json holds every vscode.l10n.t string of the sources, and only those: a string
 * added to the code and not to the bundle (or left in the bundle after the code dropped it) fails
 * here, naming it and the command that fixes it (`npm run l10n`, @vscode/l10n-dev's export).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, tempDir } from './helpers';

const BUNDLE = path.join(ROOT, 'l10n', 'bundle.l10n.json');
const L10N_DEV = path.join(ROOT, 'node_modules', '@vscode', 'l10n-dev', 'dist', 'cli.js');

/** The strings @vscode/l10n-dev extracts from `sources` (folders or files), as `npm run l10n` does. */
function extractedStrings(sources: string[]): string[] {
  assert.ok(fs.existsSync(L10N_DEV), `${L10N_DEV} is missing: @vscode/l10n-dev is a dev dependency; run \`npm ci\``);
  const out = tempDir('ap-l10n-');
  execFileSync(process.execPath, [L10N_DEV, 'export', '--outDir', out, ...sources], { cwd: ROOT, stdio: 'pipe' });
  const file = path.join(out, 'bundle.l10n.json');
  // No string at all: the tool writes no bundle.
  return fs.existsSync(file) ? Object.keys(JSON.parse(fs.readFileSync(file, 'utf8'))) : [];
}

function bundleKeys(): string[] {
  return Object.keys(JSON.parse(fs.readFileSync(BUNDLE, 'utf8')));
}

/** Names at most this many strings per list: a bundle left at {} would otherwise print all 200. */
const NAMED = 20;
const named = (strings: string[]) =>
  strings.slice(0, NAMED).map((s) => JSON.stringify(s)).join(', ') + (strings.length > NAMED ? ` and ${strings.length - NAMED} more` : '');

/** What the bundle lacks and what it holds in excess, as a message that says how to fix it. */
function bundleDrift(extracted: string[], bundle: string[]): string | undefined {
  const inBundle = new Set(bundle);
  const inCode = new Set(extracted);
  const missing = extracted.filter((s) => !inBundle.has(s));
  const stale = bundle.filter((s) => !inCode.has(s));
  if (!missing.length && !stale.length) return undefined;
  return [
    missing.length ? `missing from l10n/bundle.l10n.json (used in the code): ${named(missing)}` : '',
    stale.length ? `in l10n/bundle.l10n.json but no longer in the code: ${named(stale)}` : '',
    'Run `npm run l10n` to regenerate the bundle, and commit it.',
  ]
    .filter(Boolean)
    .join('\n');
}

describe('l10n bundle', () => {
  it('holds exactly the vscode.l10n.t strings of src/', () => {
    const extracted = extractedStrings(['src']);
    // The extraction itself works: the sources use well over a hundred strings.
    assert.ok(extracted.length > 100, `only ${extracted.length} strings extracted from src/`);
    assert.equal(bundleDrift(extracted, bundleKeys()), undefined);
  });

  it('a string added to the code and not to the bundle is reported by name', () => {
    const dir = tempDir('ap-l10n-src-');
    fs.writeFileSync(
      path.join(dir, 'added.ts'),
      "import * as vscode from 'vscode';\nexport const shown = () => vscode.l10n.t('A brand-new message for {0}', 'x');\n",
    );
    const drift = bundleDrift(extractedStrings(['src', dir]), bundleKeys());
    assert.match(drift ?? '', /missing from l10n\/bundle\.l10n\.json.*"A brand-new message for \{0\}"/);
    assert.match(drift ?? '', /npm run l10n/);
    assert.doesNotMatch(drift ?? '', /no longer in the code/);
  });
});
