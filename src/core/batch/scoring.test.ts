import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRight, normalizeAnswer, pickedOption, readGroundTruth, scoreAnswer } from './scoring';
import { GRADER_PROMPT_ID, MM_VET_GRADER_PROMPT, MM_VET_RETRY_SUFFIX, grade, gradingPrompt, parseGrade } from './judge';

describe('VQA answer normalisation', () => {
  it('case, punctuation, articles, number words, contractions (vqaEval.py rules)', () => {
    assert.equal(normalizeAnswer('The Two dogs.'), '2 dogs');
    assert.equal(normalizeAnswer('  an Apple!\n'), 'apple');
    assert.equal(normalizeAnswer('black/white'), 'black white'); // a mark inside a word becomes a space
    assert.equal(normalizeAnswer('yes , it is'), 'yes it is'); // next to a space it is removed
    assert.equal(normalizeAnswer('1,000 people'), '1000 people'); // a digit-grouping comma removes every mark
    assert.equal(normalizeAnswer('3.5'), '3.5'); // a period before a digit stays
    assert.equal(normalizeAnswer('Dont'), "don't");
    assert.equal(normalizeAnswer('don\u2019t'), "don't");
    assert.equal(normalizeAnswer('none'), '0');
    assert.equal(normalizeAnswer('Ten'), '10');
    assert.equal(normalizeAnswer('eleven'), 'eleven'); // the table stops at ten
  });
});

describe('scores', () => {
  it('exact match and containment against several accepted answers', () => {
    assert.deepEqual(scoreAnswer('Two.', { answer: ['2', 'a pair'] }), { exact: 1, contains: 1 });
    assert.deepEqual(scoreAnswer('There are two dogs in the picture.', { answer: '2' }), { exact: 0, contains: 1 });
    assert.deepEqual(scoreAnswer('22', { answer: '2' }), { exact: 0, contains: 0 }); // whole words only
    assert.deepEqual(scoreAnswer('a red bus', { answer: 'red bus' }), { exact: 1, contains: 1 });
    assert.equal(scoreAnswer('anything', {}), undefined);
    assert.equal(scoreAnswer('anything', { answer: [] }), undefined);
  });

  it('multiple choice: the letter or the option text, either way round', () => {
    const choices = ['red', 'green', 'blue'];
    const picks: Array<[string, number | null]> = [
      ['B', 1], ['(B) green', 1], ['b.', 1], ['The answer is C.', 2], ['Answer: A', 0], ['Option C', 2],
      ['green', 1], ['It is blue.', 2], ['a green car', 1], ['green or blue', null], ['purple', null], ['D', null],
    ];
    for (const [said, want] of picks) assert.equal(pickedOption(said, choices), want, said);
    assert.deepEqual(scoreAnswer('(B) green', { answer: 'B', choices }), { exact: 1, contains: 1, choice: { picked: 'B', correct: 1 } });
    assert.deepEqual(scoreAnswer('B', { answer: 'green', choices }), { exact: 1, contains: 1, choice: { picked: 'B', correct: 1 } });
    assert.deepEqual(scoreAnswer('red', { answer: 'green', choices }), { exact: 0, contains: 0, choice: { picked: 'A', correct: 0 } });
    assert.deepEqual(scoreAnswer('no idea', { answer: 'C', choices }), { exact: 0, contains: 0, choice: { picked: null, correct: 0 } });
    // Nested options: the longest one named wins.
    assert.equal(pickedOption('It is dark red', ['red', 'dark red']), 1);
  });

  it('which score decides "right"', () => {
    const open = { exact: 0, contains: 1 } as const;
    assert.equal(isRight(open, 'exact'), false);
    assert.equal(isRight(open, 'contains'), true);
    assert.equal(isRight(open, 'judge'), undefined);
    assert.equal(isRight({ ...open, judge: { score: 0.5, model: 'm', prompt: 'p', raw: ['0.5'] } }, 'judge'), true);
    assert.equal(isRight({ ...open, judge: { score: 0.4, model: 'm', prompt: 'p', raw: ['0.4'] } }, 'judge'), false);
    assert.equal(isRight({ exact: 1, contains: 1, choice: { picked: 'A', correct: 1 } }, 'judge'), true);
  });

  it('bad ground truth is a one-line error naming the line', () => {
    assert.throws(() => readGroundTruth({ answer: 3 }, 'q.jsonl:4'), /^Error: q.jsonl:4: "answer" must be a string or a list of strings\.$/);
    assert.throws(() => readGroundTruth({ choices: ['only one'] }, 'q.jsonl:5'), /q.jsonl:5: "choices" must be a list of 2 to 26/);
    assert.throws(() => readGroundTruth({ answer: 'E', choices: ['x', 'y'] }, 'q.jsonl:6'), /q.jsonl:6: answer "E" is neither an option letter \(A–B\) nor the text of an option/);
    assert.throws(() => readGroundTruth({ category: 7 }, 'q.jsonl:7'), /"category" must be a string/);
    assert.deepEqual(readGroundTruth({ answer: ['x'], choices: ['x', 'y'], category: 'ocr' }, 'o'), { answer: ['x'], choices: ['x', 'y'], category: 'ocr' });
  });
});

describe('the MM-Vet judge', () => {
  it('builds the grader row as mm-vet_evaluator.py does', () => {
    const p = gradingPrompt('What is x?', ['-1<AND>-5'], 'x = -1\nor so');
    assert.ok(p.startsWith(MM_VET_GRADER_PROMPT));
    assert.ok(p.endsWith('\nWhat is x? | -1 <AND> -5 | x = -1 or so | '));
    assert.ok(gradingPrompt('q', ['cat', 'kitten'], 'p').endsWith('\nq | cat  <OR>  kitten | p | '));
    assert.match(GRADER_PROMPT_ID, /^mm-vet-v1:[0-9a-f]{12}$/);
  });

  it('reads the first token as the grade; out of range or not a number is unreadable', () => {
    assert.equal(parseGrade('0.7'), 0.7);
    assert.equal(parseGrade(' 1.0 (totally right)'), 1);
    assert.equal(parseGrade('1.5'), undefined);
    assert.equal(parseGrade('Correctness: 0.3'), undefined);
    assert.equal(parseGrade(''), undefined);
  });

  it('asks again with the digit suffix and a rising temperature, then gives 0.0 after five tries', async () => {
    const calls: Array<{ prompt: string; temperature: number; maxTokens: number }> = [];
    const replies = ['about right', 'hmm', '0.8'];
    const g = await grade(async (prompt, o) => {
      calls.push({ prompt, temperature: o.temperature, maxTokens: o.maxTokens });
      return { text: replies[calls.length - 1], model: 'grader' };
    }, 'q', ['a'], 'p');
    assert.deepEqual(g, { score: 0.8, model: 'grader', prompt: GRADER_PROMPT_ID, raw: ['about right', 'hmm', '0.8'] });
    assert.deepEqual(calls.map((c) => c.temperature), [0, 0, 0.5]);
    assert.ok(calls.every((c) => c.maxTokens === 3));
    assert.ok(!calls[0].prompt.endsWith(MM_VET_RETRY_SUFFIX) && calls[1].prompt.endsWith(MM_VET_RETRY_SUFFIX));
    let n = 0;
    const never = await grade(async () => ({ text: `nope ${++n}`, model: 'grader' }), 'q', ['a'], 'p');
    assert.equal(n, 5);
    assert.equal(never.score, 0);
  });
});
