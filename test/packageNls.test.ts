/**
 * package.json's texts are `%key%` placeholders VS Code fills from package.nls.json (and its
 * translations). A key missing there shows the raw `%key%` in the UI; a key no placeholder names is
 * a text nobody sees but translators still translate. Both fail here, by name.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers';

const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));

/** Every `%key%` string value anywhere in `value` (VS Code replaces only whole-string placeholders). */
function placeholders(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    const m = /^%([^%\s]+)%$/.exec(value);
    if (m) out.add(m[1]);
  } else if (Array.isArray(value)) {
    for (const v of value) placeholders(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) placeholders(v, out);
  }
  return out;
}

/** The keys package.json names and package.nls.json lacks, and the reverse, as one message; undefined when they agree. */
function nlsDrift(manifest: unknown, nls: Record<string, unknown>): string | undefined {
  const used = placeholders(manifest);
  const missing = [...used].filter((k) => typeof nls[k] !== 'string' || !(nls[k] as string).trim());
  const unused = Object.keys(nls).filter((k) => !used.has(k));
  if (!missing.length && !unused.length) return undefined;
  return [
    missing.length ? `package.json names %key% texts that package.nls.json lacks (or leaves empty): ${missing.join(', ')}: add them to package.nls.json` : '',
    unused.length ? `package.nls.json has keys no %key% in package.json uses: ${unused.join(', ')}: remove them, or use them` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

describe('package.nls.json', () => {
  it('has a text for every %key% in package.json, and no other key', () => {
    const manifest = readJson('package.json');
    // The walk reaches the manifest's placeholders: commands, settings and the walkthrough use them.
    assert.ok(placeholders(manifest).has('command.ask'), 'no %command.ask% found in package.json');
    assert.equal(nlsDrift(manifest, readJson('package.nls.json')), undefined);
  });

  it('a placeholder without a text, and a text without a placeholder, are both named', () => {
    const manifest = readJson('package.json');
    manifest.contributes.commands.push({ command: 'attentionPrompting.new', title: '%command.new%' });
    const nls = { ...readJson('package.nls.json'), 'config.gone': 'A setting that was removed' };
    const drift = nlsDrift(manifest, nls) ?? '';
    assert.match(drift, /package\.nls\.json lacks.*: command\.new: add them/);
    assert.match(drift, /no %key% in package\.json uses: config\.gone: remove them/);
  });
});
