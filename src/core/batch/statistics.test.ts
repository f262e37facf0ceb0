import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mcnemarExact, wilsonInterval } from './statistics';
import { parseShard, shardOf } from './shards';

const close = (a: number, b: number, tol = 5e-5) => assert.ok(Math.abs(a - b) < tol, `${a} ≉ ${b}`);

describe('statistics', () => {
  it('Wilson score intervals match hand-computed values', () => {
    // 5/10: centre ½, half-width 1.96/1.38415·√(0.025 + 0.0096037) = 0.26340.
    const [lo, hi] = wilsonInterval(5, 10);
    close(lo, 0.236593);
    close(hi, 0.763407);
    // 0/10: upper bound z²/(n + z²) = 3.84146/13.84146.
    const [lo0, hi0] = wilsonInterval(0, 10);
    assert.equal(lo0, 0);
    close(hi0, 3.841459 / 13.841459);
    assert.deepEqual(wilsonInterval(0, 0), [0, 1]);
    const [lo1, hi1] = wilsonInterval(10, 10);
    close(lo1, 10 / 13.841459);
    assert.equal(hi1, 1);
  });

  it('exact McNemar p-values match the binomial sums', () => {
    assert.equal(mcnemarExact(6, 1), (2 * (1 + 7)) / 128);
    assert.equal(mcnemarExact(1, 6), (2 * (1 + 7)) / 128);
    assert.equal(mcnemarExact(10, 0), 2 / 1024);
    close(mcnemarExact(8, 2), (2 * (1 + 10 + 45)) / 1024, 1e-12);
    assert.equal(mcnemarExact(3, 3), 1);
    assert.equal(mcnemarExact(0, 0), 1);
    // Large counts stay finite; 600 vs 400 is far past the normal approximation's 2.5e-10 region.
    const p = mcnemarExact(600, 400);
    assert.ok(p > 1e-11 && p < 1e-9, String(p));
    assert.ok(mcnemarExact(20000, 19000) > 0);
  });
});

describe('shards', () => {
  it('parses i/n and rejects the rest with a one-line error', () => {
    assert.deepEqual(parseShard('1/3'), { index: 1, count: 3 });
    assert.deepEqual(parseShard(' 0 / 1 '), { index: 0, count: 1 });
    for (const bad of ['3/3', '1/0', 'a/b', '-1/2', '1', '1/2/3']) assert.throws(() => parseShard(bad), /--shard must be i\/n/, bad);
  });

  it('puts every id in exactly one shard, evenly, independent of the other ids', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[shardOf(`item${i}`, 3)]++;
    assert.ok(counts.every((c) => c > 900 && c < 1100), counts.join(','));
    assert.equal(shardOf('item7', 3), shardOf('item7', 3));
    assert.equal(shardOf('anything', 1), 0);
  });
});
