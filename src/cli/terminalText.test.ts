import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TerminalTextFilter, terminalJson, terminalText } from './terminalText';

const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('text written to a terminal', () => {
  const cases: Array<[string, string]> = [
    ['a\x1b]0;title\x07b', 'ab'],
    ['a\x1b]0;title\x1b\\b', 'ab'],
    ['a\x9d0;title\x9cb', 'ab'],
    ['a\x1b[2Jb', 'ab'],
    ['a\x1b[1;31mred\x1b[0m', 'ared'],
    ['a\x9b2Jb', 'ab'],
    ['a\x9b31mb', 'ab'],
    ['done\rfake', 'donefake'],
    ['line\r\nnext', 'line\nnext'],
    ['tab\tand\nnewline', 'tab\tand\nnewline'],
    ['bell\x07 bs\x08 del\x7f nul\x00 c1\x85', 'bell bs del nul c1'],
    ['\x1b(Bcharset \x1bcreset \x1b7save', 'charset reset save'],
    ['\x1bPq#0;2;0;0;0\x1b\\sixel', 'sixel'],
    ['\x1b]8;;https://evil.example\x07link\x1b]8;;\x07', 'link'],
    ['unterminated \x1b]0;title\nnext line', 'unterminated \nnext line'],
    ['\x1b[31\x07m', 'm'],
    ['héllo wörld 你好 🙂', 'héllo wörld 你好 🙂'],
  ];

  it('removes control characters and escape sequences, keeps newline, tab and all printable text', () => {
    for (const [input, expected] of cases) {
      const out = terminalText(input);
      assert.equal(out, expected, JSON.stringify(input));
      assert.doesNotMatch(out, CONTROLS);
    }
  });

  it('a sequence split across streamed chunks is removed as a whole', () => {
    for (const [input, expected] of cases) {
      for (let cut = 0; cut <= input.length; cut++) {
        const filter = new TerminalTextFilter();
        assert.equal(filter.write(input.slice(0, cut)) + filter.write(input.slice(cut)), expected, `${JSON.stringify(input)} cut at ${cut}`);
      }
      const byChar = new TerminalTextFilter();
      assert.equal([...input].map((ch) => byChar.write(ch)).join(''), expected, `${JSON.stringify(input)} one character at a time`);
    }
  });

  it('--json: no raw control character on the line, every character back after parsing', () => {
    const value = { text: 'a\x1b]0;t\x07\x9b2J\x7f\r\n\u0085b', n: 1 };
    const line = terminalJson(value);
    assert.doesNotMatch(line, CONTROLS);
    assert.deepEqual(JSON.parse(line), value);
  });
});
