import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';

/** A notification's deliveries are listed in id order, numerically, however many there are. */
let h: TestHarness;

before(async () => {
  h = await createHarness();
});
after(async () => {
  await h.close();
});

test('GET /v1/notifications/{id} lists 12 deliveries in numeric id order, not as text (10 after 9)', async () => {
  const userIds = Array.from({ length: 12 }, (_, i) => `order-${i}`);
  const created = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userIds }, title: 'order', channels: ['inbox'], sendAt: new Date(Date.now() + 3_600_000).toISOString() } });
  assert.equal(created.statusCode, 202, created.body);
  const res = await h.request({ url: `/v1/notifications/${created.json().id}` });
  assert.equal(res.statusCode, 200, res.body);
  const ids = (res.json().deliveries as Array<{ id: string }>).map((d) => BigInt(d.id));
  assert.equal(ids.length, 12);
  assert.ok(ids.some((id) => id >= 10n) && ids.some((id) => id < 10n), `ids cross a digit boundary: ${ids.join(',')}`);
  assert.deepEqual(ids, [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
});
