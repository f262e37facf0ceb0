import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { oneAhead } from './itemStream';

/** A source that records when each value is asked for, and whether it was closed. */
function source(n: number) {
  const asked: number[] = [];
  let closed = false;
  async function* values(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) {
        asked.push(i);
        yield i;
      }
    } finally {
      closed = true;
    }
  }
  return { it: values(), asked, closed: () => closed };
}

describe('one ahead', () => {
  it('prepares the next value while the caller holds the current one, and yields all in order', async () => {
    const s = source(3);
    const seen: number[] = [];
    for await (const v of oneAhead(s.it)) {
      seen.push(v);
      await new Promise((r) => setImmediate(r));
      // While the caller works on v, v + 1 (if any) is already asked for.
      assert.equal(s.asked[s.asked.length - 1], Math.min(v + 1, 2));
    }
    assert.deepEqual(seen, [0, 1, 2]);
  });

  it('stopped early: the value prepared is discarded and the source closed', async () => {
    const s = source(5);
    const discarded: number[] = [];
    for await (const v of oneAhead(s.it, (x) => discarded.push(x))) if (v === 1) break;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(discarded, [2]);
    assert.ok(s.closed());
  });
});
