import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { NO_HOOKS } from '../src/core/hooks.ts';

let h: TestHarness;
before(async () => {
  h = await createHarness({}, { hooks: NO_HOOKS });
});
after(async () => {
  await h.close();
});

test('events page oldest first with the after cursor; /v1/me sees only its own', async () => {
  for (let i = 0; i < 5; i++) {
    await h.request({ method: 'POST', url: '/v1/users/ev/devices', payload: { platform: 'android', token: `ev-token-${i}` } });
  }
  await h.request({ method: 'POST', url: '/v1/users/other/devices', payload: { platform: 'android', token: 'other-token' } });
  const first = await h.request({ url: '/v1/users/ev/events?limit=3' });
  assert.equal(first.statusCode, 200);
  const page1 = first.json();
  assert.equal(page1.items.length, 3);
  assert.ok(page1.next);
  const second = (await h.request({ url: `/v1/users/ev/events?limit=3&after=${page1.next}` })).json();
  assert.equal(second.items.length, 2);
  assert.equal(second.next, undefined);
  const all = [...page1.items, ...second.items];
  const ids = all.map((e: { id: string }) => BigInt(e.id));
  assert.deepEqual(ids, [...ids].sort((a, b) => (a < b ? -1 : 1)));
  for (const e of all) {
    assert.equal(e.type, 'device:registered');
    assert.equal(e.itemType, 'device');
    assert.ok(e.itemId && e.createdAt && e.data);
  }
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('ev').setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
  const mine = await h.app.inject({ url: '/v1/me/events', headers: { authorization: `Bearer ${token}` } });
  assert.equal(mine.json().items.length, 5);
});

test('a malformed cursor or limit is 400', async () => {
  for (const q of ['after=abc', 'after=-1', 'limit=0', 'limit=5000', 'limit=x']) {
    const res = await h.request({ url: `/v1/users/ev/events?${q}` });
    assert.equal(res.statusCode, 400, q);
    assert.equal(res.json().error.code, 'VALIDATION_FAILED');
  }
});
