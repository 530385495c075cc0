import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uuidv7 } from '../src/db/ids.ts';

/** Notification ids (src/db/ids.ts): UUIDv7, strictly increasing within a process. */
const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('ids are UUIDv7 with the time in their first 48 bits', () => {
  const now = Date.now() + 60_000; // later than any id made before in this process
  const id = uuidv7(now);
  assert.match(id, V7);
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), now);
});

test('ids made with the same millisecond, or an earlier one, still increase: a batch sorts in item order', () => {
  const at = Date.now() + 120_000;
  const ids = Array.from({ length: 10_000 }, () => uuidv7(at)); // more than 12 bits hold: the millisecond is borrowed
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
  assert.ok(ids.every((id) => V7.test(id)));
  assert.ok(uuidv7(at - 5_000) > ids.at(-1)!, 'a clock that steps back does not go back');
  assert.equal(new Set(ids).size, ids.length);
});
