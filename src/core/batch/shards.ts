/**
 * `--shard i/n`: which items one of n machines takes. The split is by a hash of the item's id,
 * so it does not depend on input order, on n's other shards or on anything but the id: every id
 * lands in exactly one shard, and a rerun of shard i takes the same ids.
 */
import { createHash } from 'node:crypto';
import { AttentionPromptError } from '../errors';

export interface Shard {
  /** 0-based. */
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw new AttentionPromptError('bad-parameter', `--shard must be i/n with 0 ≤ i < n (e.g. 0/4 … 3/4), got "${text}".`);
  }
  return { index, count };
}

/** The shard (0 … count−1) an id belongs to: the first 48 bits of SHA-256(id), modulo count. */
export function shardOf(id: string, count: number): number {
  const h = createHash('sha256').update(id, 'utf8').digest();
  return h.readUIntBE(0, 6) % count;
}

export function inShard(id: string, shard: Shard | undefined): boolean {
  return !shard || shardOf(id, shard.count) === shard.index;
}

export const shardLabel = (s: Shard) => `${s.index}/${s.count}`;
