/**
 * A run's settings.json read back as the review that made it (a report panel restored after a
 * window reload resumes its run from the output folder alone).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_VLM_SETTINGS } from '../defaults';
import { runBatch } from './runner';
import { readRunSettings, reviewOfRun, type RunSettings } from './runSettings';
import { batchOptions, makeImages } from '../../../test/batchSetup';
import { tempDir } from '../../../test/helpers';
import { FakeVlm, startFakeVlm } from '../../../test/vlm/server';

describe('the review a run folder describes', () => {
  const work = tempDir('ap-run-settings-');
  const cacheDir = path.join(work, 'cache');
  const dataset = path.join(work, 'dataset');
  let vlm: FakeVlm;
  before(async () => {
    await makeImages(dataset, 2);
    vlm = await startFakeVlm({ apiKey: 'sk-run-settings' });
  });
  after(() => vlm.close());

  it('a folder run with a VLM: the folder, its question, with answers — and no key in the file', async () => {
    const out = path.join(work, 'with-vlm');
    const vlmSettings = { ...DEFAULT_VLM_SETTINGS, baseURL: vlm.baseURL, apiKey: 'sk-run-settings', model: 'test-vision' };
    await runBatch(batchOptions(dataset, out, cacheDir, { vlm: vlmSettings }));
    assert.deepEqual(reviewOfRun(readRunSettings(out)!.settings), { input: dataset, jsonl: false, question: 'where is the red box?', withVlm: true });
    assert.ok(!fs.readFileSync(path.join(out, 'settings.json'), 'utf8').includes('sk-run-settings'));
  });

  it('a JSONL run of masks only: the file, no answers', async () => {
    const jsonl = path.join(work, 'q.jsonl');
    fs.writeFileSync(jsonl, `${JSON.stringify({ id: 'a', image: 'dataset/img000.png', question: 'red?' })}\n`);
    const out = path.join(work, 'jsonl');
    await runBatch(batchOptions(jsonl, out, cacheDir, { question: undefined }));
    assert.deepEqual(reviewOfRun(readRunSettings(out)!.settings), { input: jsonl, jsonl: true, withVlm: false });
  });

  it('refuses, saying why, what Review Folder… cannot have run or an edited file', () => {
    const base: RunSettings = { input: dataset, question: 'q', answers: null };
    const refused = (settings: RunSettings, why: RegExp) => assert.throws(() => reviewOfRun(settings), { code: 'bad-parameter', message: why });
    refused({ ...base, sweep: '{"contrast":[3,5]}' }, /the run used sweep, which only the CLI sets/);
    refused({ ...base, hint: 'red', judge: true }, /hint, judge/);
    refused({ ...base, input: 'relative/dataset' }, /no input/);
    refused({ ...base, input: path.join(work, 'gone') }, /Input not found/);
    const list = path.join(work, 'list.txt');
    fs.writeFileSync(list, `${path.join(dataset, 'img000.png')}\n`);
    refused({ ...base, input: list }, /is a list, which only the CLI reads/);
    refused({ ...base, question: null }, /no question/);
    refused({ ...base, question: 3 }, /question is not text/);
    refused({ ...base, answers: true }, /answer source is not a name/);
    // Files written before a key existed: absent keys read as unset.
    assert.deepEqual(reviewOfRun({ input: dataset, question: 'q' }), { input: dataset, jsonl: false, question: 'q', withVlm: false });
    // A settings.json that is not one: readRunSettings names the file.
    const edited = path.join(work, 'edited');
    fs.mkdirSync(edited, { recursive: true });
    fs.writeFileSync(path.join(edited, 'settings.json'), '[]');
    assert.throws(() => readRunSettings(edited), /is not a settings file this tool wrote/);
  });
});
