import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers';
import { AttentionPromptError } from '../errors';
import { writeReport } from './report';
import { rescoreOutput } from './rescore';
import { PARTIAL_LINES_FILE } from './resultLines';
import { ResultsLog, type ResultRecord } from './results';

const parameters = { contrast: 5, kernel: 3, gray: 0, interpolation: 'lanczos3', geometry: 'full' };
const record = (id: string): ResultRecord => ({ id, image: `/data/${id}.png`, question: 'colour?', parameters, model: 'm', layer: 2, maskedAnswer: 'red', originalAnswer: 'red', answer: 'red', timings: {}, finishedAt: '2026-01-01T00:00:00Z' });

/** An output folder whose results.jsonl holds ten items, line `n` (1-based) replaced by `edit(line)`. */
function outputWith(edit?: { line: number; to: (text: string) => string }, tail = ''): { dir: string; file: string } {
  const dir = tempDir('ap-lines-');
  const lines = Array.from({ length: 10 }, (_, i) => JSON.stringify(record(`item${i + 1}`)));
  if (edit) lines[edit.line - 1] = edit.to(lines[edit.line - 1]);
  const file = path.join(dir, 'results.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n' + tail);
  return { dir, file };
}

const trailingComma = { line: 2, to: (t: string) => t.replace(/}$/, ',}') };
const lineCount = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;

const namesLine2 = (file: string) => (e: unknown) => {
  assert.ok(e instanceof AttentionPromptError, String(e));
  assert.equal(e.code, 'bad-parameter');
  assert.ok(e.message.includes(`${file} line 2 `), e.message);
  return true;
};

describe('results.jsonl readers: only a partial last line is set aside', () => {
  it('score refuses a malformed line 2 of 10, naming file and line, and leaves the file as it was', async () => {
    const { dir, file } = outputWith(trailingComma);
    const before = fs.readFileSync(file, 'utf8');
    await assert.rejects(rescoreOutput(dir, 'exact'), namesLine2(file));
    assert.equal(fs.readFileSync(file, 'utf8'), before);
    assert.equal(lineCount(file), 10);
  });

  it('score keeps a partial last line in the side file instead of deleting it', async () => {
    const cut = JSON.stringify(record('item11')).slice(0, 40);
    const { dir, file } = outputWith(undefined, cut);
    const r = await rescoreOutput(dir, 'exact');
    assert.equal(r.records, 10);
    assert.equal(lineCount(file), 10);
    assert.equal(r.setAside, path.join(dir, PARTIAL_LINES_FILE));
    assert.equal(fs.readFileSync(path.join(dir, PARTIAL_LINES_FILE), 'utf8'), cut + '\n');
  });

  it('--resume refuses a malformed line that is not the last, and keeps a partial last one aside', async () => {
    const bad = outputWith(trailingComma);
    const before = fs.readFileSync(bad.file, 'utf8');
    await assert.rejects(ResultsLog.open(bad.dir, true), namesLine2(bad.file));
    assert.equal(fs.readFileSync(bad.file, 'utf8'), before);

    const cut = '{"id":"item11","ima';
    const partial = outputWith(undefined, cut);
    const { log, done, dropped } = await ResultsLog.open(partial.dir, true);
    log.close();
    assert.equal(done.size, 10);
    assert.equal(dropped, 1);
    assert.equal(lineCount(partial.file), 10);
    assert.equal(fs.readFileSync(path.join(partial.dir, PARTIAL_LINES_FILE), 'utf8'), cut + '\n');
  });

  it('a line that is JSON but not a result (no id) is an error too', async () => {
    const { dir, file } = outputWith({ line: 2, to: () => '[1, 2]' });
    await assert.rejects(rescoreOutput(dir, 'exact'), namesLine2(file));
  });

  it('the report refuses a malformed middle line instead of showing fewer rows', async () => {
    const { dir, file } = outputWith(trailingComma);
    await assert.rejects(writeReport(dir), namesLine2(file));
  });
});
