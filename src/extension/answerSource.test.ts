// The stand-in for `vscode` must be imported before the module under test (required below).
import { settings } from '../../test/fakeVscode';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { ROOT } from '../../test/helpers';
import { ApiKeys } from './apiKeys';

// What answerSource.ts uses besides settings: trust, error notifications, commands.
const vscode = require('vscode');
const errors: string[] = [];
Object.assign(vscode.window, {
  showErrorMessage: async (message: string) => {
    errors.push(message);
    return undefined;
  },
});
vscode.commands = { executeCommand: async () => undefined };
const { answerSourcePreview, engineAnswerSource, readyAnswerSource } = require('./answerSource') as typeof import('./answerSource');

/** SecretStorage as a map, counting the reads (the key must be read only when an answer needs it). */
function secrets(stored: Record<string, string>) {
  const reads: string[] = [];
  const storage = {
    get: async (id: string) => {
      reads.push(id);
      return stored[id];
    },
  } as unknown as import('vscode').SecretStorage;
  return { keys: new ApiKeys(storage, {}), reads };
}

const context = { globalStorageUri: { fsPath: '/tmp/ap-global' }, globalState: { get: () => undefined } } as never;
const log = { info: () => undefined } as unknown as import('vscode').LogOutputChannel;
const OPENAI_KEY = 'attentionPrompting.apiKey/api.openai.com';

describe('one answer source, made ready in one place', () => {
  beforeEach(() => {
    settings.user = {};
    settings.workspace = {};
    errors.length = 0;
    vscode.workspace.isTrusted = true;
  });

  it('the endpoint: its key from SecretStorage and the label with its host; a workspace cannot redirect the key to another host', async () => {
    settings.user['attentionPrompting.answers.source'] = 'openai';
    settings.workspace['attentionPrompting.answers.endpointURL'] = 'https://evil.example/v1';
    const { keys, reads } = secrets({ [OPENAI_KEY]: 'sk-user' });
    const source = await readyAnswerSource(context, keys, log);
    assert.equal(source?.kind, 'openai');
    assert.deepEqual(source?.label, { model: 'gpt-4o', where: 'api.openai.com' });
    assert.equal(source?.settings.baseURL, 'https://api.openai.com/v1');
    assert.equal(source?.settings.apiKey, 'sk-user');
    assert.deepEqual(reads, [OPENAI_KEY]);
    // What the engine process is told: the client's settings with the key, not how the image is rendered.
    const engine = engineAnswerSource(source!);
    assert.ok(engine.kind === 'openai');
    assert.equal(engine.endpoint.apiKey, 'sk-user');
    assert.deepEqual(['compareWithOriginal', 'maxImageSide', 'imageFormat'].filter((k) => k in engine.endpoint), []);
  });

  it('the endpoint without a key: nothing ready, and the user is told which host needs one', async () => {
    settings.user['attentionPrompting.answers.source'] = 'openai';
    settings.user['attentionPrompting.answers.endpointURL'] = 'http://127.0.0.1:11434/v1';
    const { keys } = secrets({});
    assert.equal(await readyAnswerSource(context, keys, log), undefined);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /No API key for 127\.0\.0\.1:11434/);
  });

  it('Restricted Mode: nothing ready and no key read, whatever the setting', async () => {
    vscode.workspace.isTrusted = false;
    settings.user['attentionPrompting.answers.source'] = 'openai';
    const { keys, reads } = secrets({ [OPENAI_KEY]: 'sk-user' });
    assert.equal(await readyAnswerSource(context, keys, log), undefined);
    assert.deepEqual(reads, []);
  });

  it('Review Folder says where answers would go before the run: the kind, and for the endpoint its host and whether a key is there', async () => {
    const { keys } = secrets({ [OPENAI_KEY]: 'sk-user' });
    assert.deepEqual(await answerSourcePreview(keys), { kind: 'vscode' });
    settings.user['attentionPrompting.answers.source'] = 'local';
    assert.deepEqual(await answerSourcePreview(keys), { kind: 'local' });
    settings.user['attentionPrompting.answers.source'] = 'openai';
    assert.deepEqual(await answerSourcePreview(keys), { kind: 'openai', host: 'api.openai.com', hasKey: true });
    settings.user['attentionPrompting.answers.endpointURL'] = 'http://127.0.0.1:11434/v1';
    assert.deepEqual(await answerSourcePreview(keys), { kind: 'openai', host: '127.0.0.1:11434', hasKey: false });
  });

  it('the API key is fetched in one place: no file in src/extension but answerSource.ts reads ApiKeys', () => {
    const dir = path.join(ROOT, 'src', 'extension');
    const readers = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'apiKeys.ts')
      .filter((f) => /\bkeys\.get\(/.test(fs.readFileSync(path.join(dir, f), 'utf8')));
    assert.deepEqual(readers, ['answerSource.ts']);
  });
});
