// The stand-in for `vscode` must be imported before the module under test (required below).
import '../../test/fakeVscode';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

// What imagesForCommand reads besides settings: URIs, the active tab, dialogs and warnings.
class Uri {
  constructor(readonly scheme: string, readonly path: string) {}
  get fsPath(): string {
    return this.path;
  }
}
class TabInputCustom {}
const warnings: string[] = [];
const vscode = require('vscode');
Object.assign(vscode, {
  Uri,
  TabInputCustom,
  l10n: { t: (m: string, ...args: unknown[]) => m.replace(/\{(\d+)\}/g, (_, i: string) => String(args[Number(i)])) },
  window: {
    tabGroups: { activeTabGroup: { activeTab: undefined } },
    showOpenDialog: async () => undefined,
    showWarningMessage: async (m: string) => void warnings.push(m),
  },
});
const { imagesForCommand } = require('./imageSelection') as typeof import('./imageSelection');

describe('images a command acts on', () => {
  it('only files on this machine: a git: revision of an image is refused with the reason, not read from the working copy', async () => {
    const file = new Uri('file', '/ws/photo.png');
    const revision = new Uri('git', '/ws/photo.png');
    const images = await imagesForCommand(undefined, [file, revision, new Uri('file', '/ws/notes.txt')] as never);
    assert.deepEqual(images, [file]);
    assert.ok(warnings.some((w) => /Not a file on this machine: photo\.png \(git:\)/.test(w)), warnings.join(' | '));
    assert.ok(warnings.some((w) => /Not an image this extension reads: notes\.txt/.test(w)), warnings.join(' | '));
  });
});
