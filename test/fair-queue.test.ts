import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FairQueue } from '../src/fetches/fair-queue.js';

// The queue reverse DNS lookups wait in: turns round-robin between networks, room made from the
// network with the most waiting, any waiting item removable, the count always right.

/** Takes everything with takeNext, in the order it comes. */
function drain<T>(queue: FairQueue<T>): T[] {
  const taken: T[] = [];
  for (let item = queue.takeNext(); item !== undefined; item = queue.takeNext()) taken.push(item);
  return taken;
}

test('an empty queue gives nothing and removes nothing', () => {
  const queue = new FairQueue<string>();
  assert.equal(queue.size, 0);
  assert.equal(queue.takeNext(), undefined);
  assert.equal(queue.takeOldestOfLargest(), undefined);
  assert.equal(queue.remove('a', 'a1'), false);
});

test('turns go round the groups in the order they came; each group gives its oldest first', () => {
  const queue = new FairQueue<string>();
  for (const item of ['a1', 'a2', 'a3', 'a4', 'b1', 'c1', 'c2']) queue.push(item[0]!, item);
  assert.equal(queue.size, 7);
  assert.equal(queue.takeNext(), 'a1');
  assert.equal(queue.size, 6);
  // A group that comes back after it emptied joins at the back of the line.
  assert.equal(queue.takeNext(), 'b1');
  queue.push('b', 'b2');
  queue.push('d', 'd1');
  assert.deepEqual(drain(queue), ['c1', 'a2', 'b2', 'd1', 'c2', 'a3', 'a4']);
  assert.equal(queue.size, 0);
  assert.equal(queue.takeNext(), undefined);
});

test('a flood from one group waits behind itself: one other item goes within two turns', () => {
  const queue = new FairQueue<number>();
  for (let i = 0; i < 10_000; i++) queue.push('flood', i);
  assert.equal(queue.takeNext(), 0);
  queue.push('other', -1);
  assert.equal(queue.takeNext(), 1);
  assert.equal(queue.takeNext(), -1);
  const rest = drain(queue);
  assert.equal(rest.length, 9_998);
  assert.deepEqual(rest.slice(0, 3), [2, 3, 4]);
  assert.equal(rest.at(-1), 9_999);
  assert.equal(queue.size, 0);
});

test('when full, room is made from the group holding the most, its oldest first, as sizes change', () => {
  const queue = new FairQueue<string>();
  for (const item of ['a1', 'b1', 'b2', 'b3', 'a2', 'c1']) queue.push(item[0]!, item);
  assert.equal(queue.takeOldestOfLargest(), 'b1');
  assert.equal(queue.size, 5);
  // a and b hold two each: the one that has held two longer (a) goes first.
  assert.equal(queue.takeOldestOfLargest(), 'a1');
  assert.equal(queue.takeOldestOfLargest(), 'b2');
  // The largest shrinks to one item per group, then grows again when a group fills up.
  for (const item of ['c2', 'c3', 'c4']) queue.push('c', item);
  assert.equal(queue.takeOldestOfLargest(), 'c1');
  assert.equal(queue.takeOldestOfLargest(), 'c2');
  assert.equal(queue.takeOldestOfLargest(), 'c3');
  assert.equal(queue.size, 3);
  assert.deepEqual(drain(queue), ['a2', 'b3', 'c4']);
  assert.equal(queue.takeOldestOfLargest(), undefined);
});

test('the largest group is found again after items leave by their turns or are removed', () => {
  const queue = new FairQueue<string>();
  for (const item of ['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'c1']) queue.push(item[0]!, item);
  // a leaves by turns and removal until it is the smallest.
  assert.equal(queue.takeNext(), 'a1');
  assert.equal(queue.remove('a', 'a3'), true);
  assert.equal(queue.remove('a', 'a4'), true);
  assert.equal(queue.takeOldestOfLargest(), 'b1');
  assert.equal(queue.remove('b', 'b2'), true);
  // Each group holds one: whichever goes, it is one of them, and the count stays right.
  assert.equal(queue.size, 2);
  assert.deepEqual(drain(queue).sort(), ['a2', 'c1']);
  assert.equal(queue.takeOldestOfLargest(), undefined);
});

test('remove takes an item out wherever it waits, once; the others keep their order', () => {
  const queue = new FairQueue<string>();
  for (const item of ['a1', 'a2', 'a3', 'a4', 'b1']) queue.push(item[0]!, item);
  assert.equal(queue.remove('a', 'a3'), true, 'from the middle');
  assert.equal(queue.remove('a', 'a3'), false, 'not twice');
  assert.equal(queue.remove('b', 'a2'), false, 'not under another group');
  assert.equal(queue.remove('c', 'a2'), false, 'not under a group with nothing waiting');
  assert.equal(queue.remove('a', 'a1'), true, 'the oldest');
  assert.equal(queue.size, 3);
  assert.equal(queue.takeNext(), 'a2');
  assert.equal(queue.remove('a', 'a2'), false, 'not once taken');
  assert.equal(queue.remove('a', 'a4'), true, 'the last of its group');
  assert.equal(queue.size, 1);
  // The emptied group has left the turns: b goes next, then a new item of a.
  queue.push('a', 'a5');
  assert.deepEqual(drain(queue), ['b1', 'a5']);
});

test('items leave a long group in order however many are taken (the group compacts as it goes)', () => {
  const queue = new FairQueue<number>();
  const total = 5_000;
  for (let i = 0; i < total; i++) queue.push('a', i);
  const taken: number[] = [];
  for (let i = 0; i < total; i++) {
    // Alternate: a turn, then a removal from the middle of what waits, then making room.
    if (i % 3 === 0) taken.push(queue.takeNext()!);
    else if (i % 3 === 1) taken.push(queue.takeOldestOfLargest()!);
    else {
      const next = taken.length + 1;
      if (queue.remove('a', next)) taken.push(next);
    }
  }
  // Every item taken came out once; those left are still in order.
  const left = drain(queue);
  assert.equal(taken.length + left.length, total);
  assert.deepEqual(
    [...taken, ...left].sort((x, y) => x - y),
    Array.from({ length: total }, (_, i) => i),
  );
  assert.deepEqual(
    left,
    [...left].sort((x, y) => x - y),
  );
  assert.equal(queue.size, 0);
});
