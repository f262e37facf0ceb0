import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Slots } from './slots';

/** Lets every settled promise's callbacks run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('concurrency slots', () => {
  it('holds back the request past the bound until a slot is released, first come first served', async () => {
    const slots = new Slots(2);
    const order: string[] = [];
    await slots.acquire();
    await slots.acquire();
    const third = slots.acquire().then(() => order.push('third'));
    const fourth = slots.acquire().then(() => order.push('fourth'));
    await settle();
    assert.deepEqual(order, [], 'both wait while two slots are held');
    slots.release();
    await third;
    await settle();
    assert.deepEqual(order, ['third']);
    slots.release();
    await fourth;
    assert.deepEqual(order, ['third', 'fourth']);
  });

  it('a waiter given up leaves the queue: the slot goes to the next one, and none is lost', async () => {
    const slots = new Slots(1);
    await slots.acquire();
    const stop = new AbortController();
    const given = slots.acquire(stop.signal);
    let nextGot = false;
    const next = slots.acquire().then(() => (nextGot = true));
    stop.abort();
    await assert.rejects(given, { code: 'cancelled' });
    slots.release();
    await next;
    assert.ok(nextGot);
    slots.release();
    // The one slot is free again: taken at once.
    await slots.acquire();
  });

  it('refuses at once when already cancelled', async () => {
    const stop = new AbortController();
    stop.abort();
    await assert.rejects(new Slots(3).acquire(stop.signal), { code: 'cancelled' });
  });
});
