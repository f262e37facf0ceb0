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
