import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../../test/helpers';

describe('each command lives with its feature', () => {
  it('every command package.json contributes is registered exactly once, by a feature file (registerCommand), and nothing else is', () => {
    const contributed: string[] = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).contributes.commands.map((c: { command: string }) => c.command.replace(/^attentionPrompting\./, ''));
    const dir = path.join(ROOT, 'src', 'extension');
    const registered = new Map<string, string[]>();
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      for (const m of fs.readFileSync(path.join(dir, file), 'utf8').matchAll(/registerCommand\(context, '([\w.]+)'/g)) registered.set(m[1], [...(registered.get(m[1]) ?? []), file]);
    }
    // testHooks exists only when the integration tests ask for it: not contributed.
    registered.delete('testHooks');
    assert.deepEqual([...registered.keys()].sort(), [...contributed].sort());
    assert.deepEqual([...registered].filter(([, files]) => files.length > 1), [], 'registered twice');
  });
});

describe('what the Command Palette and menus show', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const nls: Record<string, string> = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.nls.json'), 'utf8'));
  const title = (c: { title: string }) => nls[c.title.replace(/^%|%$/g, '')] ?? c.title;
  /** The commands that ask for something (a question, a folder, a key, a choice) before they act. */
  const ASK_FOR_INPUT = ['askAboutImage', 'showHeatmap', 'reviewFolder', 'setApiKey', 'chooseModel', 'chooseLocalModel', 'chooseAnswerModel'];

  it('a title ends with "…" exactly when the command asks for input first', () => {
    const wrong = (pkg.contributes.commands as Array<{ command: string; title: string }>)
      .map((c) => ({ id: c.command.replace(/^attentionPrompting\./, ''), title: title(c) }))
      .filter(({ id, title }) => ASK_FOR_INPUT.includes(id) !== title.endsWith('…'));
    assert.deepEqual(wrong, []);
  });

  it('every command has the extension as its category, and the three model pickers say what each chooses', () => {
    for (const c of pkg.contributes.commands) assert.equal(c.category, 'Attention Prompting', c.command);
    const pickers = pkg.contributes.commands.filter((c: { command: string }) => /^attentionPrompting\.choose/.test(c.command)).map(title);
    assert.deepEqual(pickers, ['Choose CLIP Model…', 'Choose Local Vision-Language Model…', 'Choose Answer Model…']);
  });

  it('no menu entry carries a placeholder `when` ("true", or empty): an entry is there to hide or place a command', () => {
    const entries = Object.entries(pkg.contributes.menus as Record<string, Array<{ command: string; when?: string }>>).flatMap(([menu, items]) => items.map((i) => ({ menu, ...i })));
    assert.deepEqual(entries.filter((e) => e.when === undefined ? e.menu === 'commandPalette' : ['true', ''].includes(e.when.trim())), []);
  });

  it('Marketplace categories: AI and Chat (a chat participant and a language-model tool), Machine Learning, Visualization', () => {
    assert.deepEqual(pkg.categories, ['AI', 'Chat', 'Machine Learning', 'Visualization']);
  });
});
