import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainBytes } from './bytes';

describe('plainBytes', () => {
  it('turns a Node Buffer into a plain Uint8Array (webview.postMessage would send a Buffer as JSON numbers)', () => {
    const buffer = Buffer.from([137, 80, 78, 71]);
    assert.match(JSON.stringify({ b: buffer }), /"type":"Buffer"/, 'what a Buffer becomes in JSON');
    const plain = plainBytes(buffer);
    assert.equal(Object.getPrototypeOf(plain), Uint8Array.prototype);
    assert.deepEqual([...plain], [137, 80, 78, 71]);
    assert.doesNotMatch(JSON.stringify({ b: plain }), /"type":"Buffer"/);
  });

  it('copies only the viewed bytes, and keeps a plain array that owns its buffer', () => {
    const pool = new Uint8Array(8192);
    pool.set([1, 2, 3], 100);
    const view = plainBytes(pool.subarray(100, 103));
    assert.equal(view.buffer.byteLength, 3);
    const own = new Uint8Array([4, 5]);
    assert.equal(plainBytes(own), own);
  });
});
