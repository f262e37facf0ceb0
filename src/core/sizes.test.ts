import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes } from './sizes';

describe('formatBytes', () => {
  it('picks the unit that keeps a small file from reading as zero', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(412), '412 B');
    assert.equal(formatBytes(187_400), '187 kB');
    assert.equal(formatBytes(3_450_000), '3.5 MB');
    assert.equal(formatBytes(432_000_000), '432 MB');
    assert.equal(formatBytes(1_710_000_000), '1.71 GB');
  });
});
