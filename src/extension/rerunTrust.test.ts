// The stand-in for `vscode` must be imported before the module under test.
import { warnings } from '../../test/fakeVscode';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import type * as vscodeTypes from 'vscode';
import { tempDir } from '../../test/helpers';
import { readRunSettings, reviewOfRun, writeRunSettings } from '../core/batch/runSettings';
import { REVIEW_INPUTS_KEPT, ReviewInputs, confirmRerunInput, decideRerunInput } from './rerunTrust';

function memento(): vscodeTypes.Memento {
  const store = new Map<string, unknown>();
  return { keys: () => [...store.keys()], get: (k: string, d?: unknown) => (store.has(k) ? store.get(k) : d), update: async (k: string, v: unknown) => void store.set(k, v) } as vscodeTypes.Memento;
}

describe('Re-run failed trusts the input this host started the run with, not settings.json', () => {
  beforeEach(() => {
    warnings.asked.length = 0;
    warnings.answer = undefined;
  });

  it('the decision: the remembered input resumes; another one, or none remembered, must be confirmed', () => {
    assert.deepEqual(decideRerunInput('/data/cats', '/data/cats'), { kind: 'resume' });
    assert.deepEqual(decideRerunInput('/data/cats/', '/data/./cats'), { kind: 'resume' });
    assert.deepEqual(decideRerunInput('/data/cats', '/home/me/private'), { kind: 'changed', remembered: '/data/cats' });
    assert.deepEqual(decideRerunInput(undefined, '/data/cats'), { kind: 'unknown' });
  });

  it('a tampered settings.json input asks with a modal naming both folders, and Cancel resumes nothing', async () => {
    const work = tempDir('ap-rerun-');
    const [dataset, other, out] = ['cats', 'private', 'out'].map((n) => path.join(work, n));
    for (const d of [dataset, other, out]) fs.mkdirSync(d);
    const inputs = new ReviewInputs(memento());
    await inputs.remember(out, dataset); // Review Folder… started the run here
    writeRunSettings(out, { input: dataset, question: 'what?', answers: 'openai' });
    assert.equal(await confirmRerunInput(inputs, out, reviewOfRun(readRunSettings(out)!.settings).input, true), true);
    assert.equal(warnings.asked.length, 0, 'the input it started with: no question');

    writeRunSettings(out, { input: other, question: 'what?', answers: 'openai' }); // edited behind its back
    const recorded = reviewOfRun(readRunSettings(out)!.settings).input;
    assert.equal(await confirmRerunInput(inputs, out, recorded, true), false, 'Cancel: no resume');
    assert.equal(warnings.asked.length, 1);
    const [ask] = warnings.asked;
    assert.equal(ask.options.modal, true);
    assert.ok(ask.message.includes(other) && ask.message.includes(dataset) && ask.message.includes(out), ask.message);
    assert.match(ask.options.detail!, /sends them to the answer model/);

    warnings.answer = (buttons) => buttons[0];
    assert.equal(await confirmRerunInput(inputs, out, recorded, false), true, 'confirmed by the user');
  });

  it('a run this host never started is confirmed too; the memory keeps the newest runs, bounded', async () => {
    const inputs = new ReviewInputs(memento());
    assert.equal(await confirmRerunInput(inputs, '/runs/a', '/data/a', false), false);
    assert.match(warnings.asked[0].message, /did not start that run/);
    for (let i = 0; i <= REVIEW_INPUTS_KEPT; i++) await inputs.remember(`/runs/${i}`, `/data/${i}`);
    assert.equal(inputs.inputOf(`/runs/${REVIEW_INPUTS_KEPT}`), `/data/${REVIEW_INPUTS_KEPT}`);
    assert.equal(inputs.inputOf('/runs/0'), undefined, 'the oldest is forgotten');
    await inputs.remember('/runs/5', '/data/elsewhere');
    assert.equal(inputs.inputOf('/runs/5'), '/data/elsewhere', 'a new run in the same folder replaces the old entry');
  });
});
