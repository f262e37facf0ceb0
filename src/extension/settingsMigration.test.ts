// The stand-in for `vscode` must be imported before the module under test.
import { settings } from '../../test/fakeVscode';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { ROOT } from '../../test/helpers';
import { answerSourceKind, defaultView, modelParameters, vlmConfig } from './config';
import { SETTING_RENAMES } from './settingRenames';
import { migrateRenamedSettings } from './settingsMigration';

const P = 'attentionPrompting.';
const workspace: { isTrusted: boolean } = require('vscode').workspace;
const context = { globalStorageUri: { fsPath: '/tmp/ap-global' } } as never;
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const sections: Array<{ id: string; title: string; order: number; properties: Record<string, { scope?: string; markdownDeprecationMessage?: string }> }> =
  pkg.contributes.configuration;
const registered = Object.assign({}, ...sections.map((s) => s.properties)) as Record<string, { scope?: string; markdownDeprecationMessage?: string }>;
const nls: Record<string, string> = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.nls.json'), 'utf8'));

describe('renamed settings move to their new keys once', () => {
  beforeEach(() => {
    settings.user = {};
    settings.workspace = {};
    workspace.isTrusted = true;
    settings.refuseWrite = undefined;
  });

  it('user values: written to the new keys, the old ones removed, and the readers see them', async () => {
    Object.assign(settings.user, {
      [`${P}gray`]: 128,
      [`${P}aux`]: 'lvlm',
      [`${P}model`]: 'Xenova/clip-vit-base-patch16',
      [`${P}modelCacheDir`]: '/data/models',
      [`${P}vlm.provider`]: 'openai',
      [`${P}vlm.baseURL`]: 'http://127.0.0.1:11434/v1',
      [`${P}vlm.maxTokens`]: 300,
      [`${P}engine.threads`]: 2,
    });
    const log = (await migrateRenamedSettings()).map((n) => n.message);
    assert.deepEqual(settings.user, {
      [`${P}heatmap.grayLevel`]: 128,
      [`${P}heatmap.auxiliaryModel`]: 'lvlm',
      [`${P}clip.model`]: 'Xenova/clip-vit-base-patch16',
      [`${P}engine.modelCacheDir`]: '/data/models',
      [`${P}answers.source`]: 'openai',
      [`${P}answers.endpointURL`]: 'http://127.0.0.1:11434/v1',
      [`${P}answers.maxTokens`]: 300,
      [`${P}engine.threads`]: 2,
    });
    assert.equal(log.length, 7, log.join('\n'));
    assert.match(log.find((l) => l.includes('gray'))!, /attentionPrompting\.gray .*user settings.* attentionPrompting\.heatmap\.grayLevel/);
    assert.equal(defaultView().gray, 128);
    assert.equal(defaultView().aux, 'lvlm');
    assert.equal(modelParameters(context).cacheDir, '/data/models');
    assert.equal(answerSourceKind(), 'openai');
    assert.equal(vlmConfig().baseURL, 'http://127.0.0.1:11434/v1');
    assert.equal(vlmConfig().maxTokens, 300);
    assert.deepEqual(await migrateRenamedSettings(), [], 'a second start finds nothing to move');
  });

  it('workspace values of window-scoped keys move in the workspace; endpoint keys a workspace cannot set stay where VS Code ignores them', async () => {
    Object.assign(settings.workspace, { [`${P}contrast`]: 8, [`${P}geometry`]: 'reference', [`${P}vlm.baseURL`]: 'https://evil.example/v1' });
    await migrateRenamedSettings();
    assert.deepEqual(settings.workspace, { [`${P}heatmap.contrast`]: 8, [`${P}clip.imageGeometry`]: 'reference', [`${P}vlm.baseURL`]: 'https://evil.example/v1' });
    assert.deepEqual(settings.user, {}, 'nothing is copied from a workspace into the user settings');
    assert.equal(vlmConfig().baseURL, 'https://api.openai.com/v1');
  });

  it('an untrusted workspace is not edited (its values move once it is trusted); the user settings still are', async () => {
    workspace.isTrusted = false;
    settings.workspace[`${P}kernel`] = 5;
    settings.user[`${P}kernel`] = 7;
    await migrateRenamedSettings();
    assert.deepEqual(settings.workspace, { [`${P}kernel`]: 5 });
    assert.deepEqual(settings.user, { [`${P}heatmap.smoothingKernel`]: 7 });
    workspace.isTrusted = true;
    await migrateRenamedSettings();
    assert.deepEqual(settings.workspace, { [`${P}heatmap.smoothingKernel`]: 5 });
  });

  it('a value already under the new key wins (it is the newer choice); the old one is removed', async () => {
    Object.assign(settings.user, { [`${P}gray`]: 10, [`${P}heatmap.grayLevel`]: 200 });
    const log = (await migrateRenamedSettings()).map((n) => n.message);
    assert.deepEqual(settings.user, { [`${P}heatmap.grayLevel`]: 200 });
    assert.match(log.join('\n'), /kept .*heatmap\.grayLevel = 200/);
  });

  it('a write VS Code refuses loses nothing: the old key stays (read again next start), the log says what to do, the others still move', async () => {
    Object.assign(settings.user, { [`${P}gray`]: 10, [`${P}contrast`]: 9 });
    settings.refuseWrite = (key) => key === `${P}heatmap.grayLevel`;
    const notes = await migrateRenamedSettings();
    assert.deepEqual(settings.user, { [`${P}gray`]: 10, [`${P}heatmap.contrast`]: 9 });
    assert.deepEqual(notes.map((n) => n.level).sort(), ['info', 'warn']);
    const failed = notes.find((n) => n.level === 'warn')!.message;
    assert.match(failed, /could not move attentionPrompting\.gray .*user settings.*correct errors.*It is moved the next time/s);
    settings.refuseWrite = undefined;
    await migrateRenamedSettings();
    assert.deepEqual(settings.user, { [`${P}heatmap.grayLevel`]: 10, [`${P}heatmap.contrast`]: 9 });
  });
});

describe('package.json: the sections and the renamed keys', () => {
  it('five titled, ordered sections; every live key has an order', () => {
    assert.deepEqual(
      sections.map((s) => [s.id, nls[s.title.replace(/%/g, '')], s.order]),
      [
        ['attentionPrompting.heatmap', 'Heatmap', 1],
        ['attentionPrompting.clip', 'CLIP Model', 2],
        ['attentionPrompting.answers', 'Answers', 3],
        ['attentionPrompting.localModel', 'Local Model', 4],
        ['attentionPrompting.engine', 'Engine', 5],
      ],
    );
    for (const s of sections) {
      for (const [key, p] of Object.entries(s.properties)) if (!p.markdownDeprecationMessage) assert.equal(typeof (p as { order?: number }).order, 'number', key);
    }
  });

  it('every old key stays registered (VS Code refuses to remove an unknown key), deprecated (so hidden unless set), with its scope, beside the key it became', () => {
    const deprecated = Object.keys(registered).filter((k) => registered[k].markdownDeprecationMessage !== undefined);
    assert.deepEqual(deprecated.map((k) => k.slice(P.length)).sort(), SETTING_RENAMES.map((r) => r.from).sort());
    for (const r of SETTING_RENAMES) {
      const section = sections.find((s) => P + r.to in s.properties)!;
      assert.ok(P + r.from in section.properties, `${r.from} sits in ${section.id} with ${r.to}`);
      const old = registered[P + r.from];
      const now = registered[P + r.to];
      assert.ok(now && !now.markdownDeprecationMessage, `${r.to} is a live setting`);
      assert.equal(old.scope, now.scope, `${r.from} keeps ${r.to}'s scope`);
      assert.equal(r.workspaceMayHold, now.scope === 'window', `${r.from}: workspaceMayHold matches scope ${now.scope}`);
      assert.ok(nls[old.markdownDeprecationMessage!.replace(/%/g, '')].includes(`#${P}${r.to}#`), `${r.from}'s message names ${r.to}`);
    }
  });

  it('endpoint and local-model settings stay user-only (application scope): a workspace cannot set them', () => {
    for (const [key, p] of Object.entries(registered)) {
      if (/^attentionPrompting\.(answers|localModel)\./.test(key)) assert.equal(p.scope, 'application', key);
    }
  });

  it('no setting description still names an old key', () => {
    const olds = SETTING_RENAMES.map((r) => `#${P}${r.from}#`);
    for (const [k, text] of Object.entries(nls)) if (!k.startsWith('config.renamed.')) for (const o of olds) assert.ok(!text.includes(o), `${k} names ${o}`);
  });
});
