// The stand-in for `vscode` must be imported before the module under test (required below).
import '../../test/fakeVscode';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers';

// What imageFromReferences reads besides settings: reference values, workspace folders, l10n.
class Uri {
  constructor(readonly scheme: string, readonly fsPath: string) {}
  static file(p: string): Uri {
    return new Uri('file', p);
  }
}
class Location {
  constructor(readonly uri: Uri) {}
}
const ws = tempDir('ap-chat-ws-');
const outside = tempDir('ap-chat-outside-');
const vscode = require('vscode');
Object.assign(vscode, { Uri, Location, l10n: { t: (m: string, ...args: unknown[]) => m.replace(/\{(\d+)\}/g, (_, i: string) => String(args[Number(i)])) } });
vscode.workspace.workspaceFolders = [{ uri: Uri.file(ws) }];
const { chatHandler, imageFromReferences } = require('./chatParticipant') as typeof import('./chatParticipant');
// A CommonMark renderer, as the chat renders error details (a MarkdownString); a dev dependency of @vscode/vsce.
const MarkdownIt = require('markdown-it') as new () => { renderInline(src: string): string; validateLink(url: string): boolean };
const md = new MarkdownIt();

describe('@attention #file: references', () => {
  fs.writeFileSync(path.join(ws, 'in.png'), 'png');
  fs.writeFileSync(path.join(outside, 'secret.png'), 'png');
  fs.symlinkSync(path.join(outside, 'secret.png'), path.join(ws, 'link.png'));
  const storage = Uri.file(tempDir('ap-chat-storage-'));
  const refs = (...values: unknown[]) => values.map((value, i) => ({ id: `r${i}`, value })) as never;

  it('a workspace image is read from its real path', async () => {
    assert.equal(await imageFromReferences(refs(Uri.file(path.join(ws, 'in.png'))), storage as never), fs.realpathSync(path.join(ws, 'in.png')));
    assert.equal(await imageFromReferences(refs(new Location(Uri.file(path.join(ws, 'in.png')))), storage as never), fs.realpathSync(path.join(ws, 'in.png')));
  });

  it('gets the agent tool’s checks: outside the workspace, links out of it and network paths are refused', async () => {
    await assert.rejects(imageFromReferences(refs(Uri.file(path.join(outside, 'secret.png'))), storage as never), /secret\.png is outside the workspace/);
    await assert.rejects(imageFromReferences(refs(new Location(Uri.file(path.join(ws, 'link.png')))), storage as never), /link\.png links to a file outside the workspace/);
    await assert.rejects(imageFromReferences(refs(Uri.file('//host/share/x.png')), storage as never), /outside the workspace/);
  });

  it('a refused file name shows in the error as text: it cannot add an image to the chat', async () => {
    // The chat renders errorDetails.message as markdown; this name would show a remote image.
    const crafted = path.join(outside, '![t](https:', 'evil.example', 'a.png) b.png');
    const streamed: unknown[] = [];
    const stream = new Proxy({}, { get: () => (...args: unknown[]) => void streamed.push(args) });
    const request = { command: undefined, prompt: 'what is this?', references: [{ id: 'f', value: Uri.file(crafted) }], model: { name: 'Test' } };
    const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose: () => undefined }) };
    const deps = { context: {}, engine: {}, log: { warn: () => undefined } };
    const result = await chatHandler(deps as never)(request as never, { history: [] } as never, stream as never, token as never);
    const message = (result as { errorDetails?: { message: string } }).errorDetails?.message ?? '';
    assert.match(message, /outside the workspace/);
    assert.doesNotMatch(md.renderInline(message), /<img|<a /, md.renderInline(message));
    assert.ok(md.renderInline(message).includes('![t](https:/evil.example/a.png) b.png'), 'the name is shown as written');
    assert.deepEqual(streamed, [], 'nothing else written to the chat');
  });
});
