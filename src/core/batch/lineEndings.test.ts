/**
 * Files saved on Windows end their lines with \r\n (and often start with a byte-order mark): every
 * line-based reader must read them exactly as the same file with \n — no \r in a question, an id
 * or a path, and no line counted twice.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers';
import { readItems, type BatchItem } from './inputs';
import { readResultLines } from './resultLines';

const windows = (text: string) => '\uFEFF' + text.replace(/\n/g, '\r\n');

type ReadItem = Omit<BatchItem, 'origin'> & { line: number };

/** The items of `name` written in `dir` with `text`, with the line number of their origin instead of it (it names the file). */
async function items(dir: string, name: string, text: string, question?: string): Promise<ReadItem[]> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  const out: ReadItem[] = [];
  for await (const { origin, ...item } of readItems(file, { question })) {
    assert.ok(origin.startsWith(file + ':'), origin);
    out.push({ ...item, line: Number(origin.slice(file.length + 1)) });
  }
  return out;
}

const noCarriageReturn = (value: unknown) => assert.ok(!JSON.stringify(value).includes('\\r'), `a \\r was read into ${JSON.stringify(value)}`);

describe('files saved on Windows (\\r\\n, byte-order mark) read as with \\n', () => {
  const jsonl = [
    '{"id": "cat", "image": "images/cat.png", "question": "What animal is this?", "answer": "cat", "choices": ["cat", "dog"]}',
    '',
    '{"image": "images/dog two.png", "question": "Is it a dog?", "hint": "Look left."}',
    '',
  ].join('\n');

  it('a JSONL dataset: the same items, ids, paths and questions', async () => {
    const unix = await items(tempDir(), 'questions.jsonl', jsonl);
    const win = await items(tempDir(), 'questions.jsonl', windows(jsonl));
    assert.deepEqual(unix.map((i) => i.line), [1, 3]);
    assert.deepEqual(
      win.map((i) => ({ ...i, image: path.basename(i.image) })),
      unix.map((i) => ({ ...i, image: path.basename(i.image) })),
    );
    noCarriageReturn(win);
  });

  it('a .txt list of images (comments and blank lines too): the same ids and paths', async () => {
    const list = '# two images\nimages/a.png\n\nimages/sub/b.jpg\n';
    const unix = await items(tempDir(), 'list.txt', list, 'What is here?');
    const win = await items(tempDir(), 'list.txt', windows(list), 'What is here?');
    assert.deepEqual(unix.map((i) => i.id), ['images__a', 'images__sub__b']);
    assert.deepEqual(win.map((i) => [i.id, i.line]), unix.map((i) => [i.id, i.line]));
    assert.deepEqual(win.map((i) => path.basename(i.image)), ['a.png', 'b.jpg']);
    noCarriageReturn(win);
  });

  it('a \\r\\n split between two reads of a large file is one line end', async () => {
    // The stream reads 64 KiB at a time: put a \r at the last byte of the first read.
    const line = (n: number, pad: number) => JSON.stringify({ id: `q${n}`, image: `i${n}.png`, question: 'Q' + 'x'.repeat(pad) });
    const bom = 3;
    const padded = line(1, 65535 - bom - line(1, 0).length);
    const file = windows(`${padded}\n${line(2, 3)}\n`);
    assert.equal(Buffer.from(file, 'utf8').indexOf('\r'), 65535, 'the \r is the first read\'s last byte');
    const read = await items(tempDir(), 'big.jsonl', file);
    assert.deepEqual(read.map((i) => [i.id, i.line]), [['q1', 1], ['q2', 2]], 'two lines, numbered as an editor shows them');
    noCarriageReturn(read.map((i) => [i.id, i.question.slice(-3), i.image]));
  });

  it('results.jsonl: the same records, and the kept line text has no \\r', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'results.jsonl');
    const records = ['{"id":"a","answer":"cat"}', '{"id":"b","answer":"dog"}'];
    fs.writeFileSync(file, records.join('\r\n') + '\r\n');
    const read: Array<{ id: string; text: string; lineNumber: number }> = [];
    let partial: string | undefined;
    for await (const l of readResultLines(file, { onPartial: (t) => (partial = t) })) read.push({ id: l.record.id, text: l.text, lineNumber: l.lineNumber });
    assert.deepEqual(read, [
      { id: 'a', text: records[0], lineNumber: 1 },
      { id: 'b', text: records[1], lineNumber: 2 },
    ]);
    assert.equal(partial, undefined);
  });
});
