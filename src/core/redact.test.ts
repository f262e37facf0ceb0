import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REDACTED, StreamRedactor, redactSecrets, rememberSecret } from './redact';

describe('secret redaction', () => {
  it('removes keys this process holds, wherever they appear', () => {
    rememberSecret('local-key-abc');
    assert.equal(redactSecrets('echo: local-key-abc and again local-key-abc'), `echo: ${REDACTED} and again ${REDACTED}`);
    rememberSecret('x'); // too short to be a secret: ordinary words stay
    assert.equal(redactSecrets('max 512 tokens'), 'max 512 tokens');
  });

  it('removes what looks like a credential even when never told about it', () => {
    const cases: Array<[string, RegExp]> = [
      ['Received headers: authorization: Bearer abc.def-123456', /authorization: \[redacted\]$/],
      ['{"Authorization": "Bearer zzzzzzzzzzzz", "x": 1}', /"Authorization": "\[redacted\]", "x": 1/],
      ['proxy-authorization=Basic dXNlcjpwYXNz', /proxy-authorization=\[redacted\]/],
      ['token was Bearer eyJhbGciOi.JIUzI1NiJ9.signature', /Bearer \[redacted\]/],
      ['invalid key sk-proj-1234567890abcdefXYZ supplied', /invalid key \[redacted\] supplied/],
      ['api_key=hunter2hunter2&model=x', /api_key=\[redacted\]&model=x/],
      ['"x-api-key": "abcdef123456"', /"x-api-key": "\[redacted\]"/],
      ['hf token hf_abcdefghijklmnopqrstuvwx', /hf token \[redacted\]/],
      ['ghp_abcdefghijklmnopqrstuvwxyz0123 leaked', /^\[redacted\] leaked/],
      ['AKIAABCDEFGHIJKLMNOP', /^\[redacted\]$/],
    ];
    for (const [input, expected] of cases) assert.match(redactSecrets(input), expected, input);
    for (const harmless of ['max_tokens: 512', 'The Authorization header is missing.', 'model gpt-4o not found', 'a skein of wool']) {
      assert.equal(redactSecrets(harmless), harmless);
    }
  });

  it('catches a key split across streamed pieces', () => {
    const key = 'sk-split-secret-42';
    for (let cut = 1; cut < key.length; cut++) {
      const text = `before ${key} middle ${key.slice(0, 5)} after ${key}`;
      const r = new StreamRedactor(key);
      let out = '';
      for (let i = 0; i < text.length; i += cut) out += r.push(text.slice(i, i + cut));
      out += r.flush();
      assert.equal(out, `before ${REDACTED} middle ${key.slice(0, 5)} after ${REDACTED}`, `pieces of ${cut}`);
    }
  });
});
