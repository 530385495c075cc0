import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';

/** What one user may own: HERALD_USER_MAX_DEVICES and HERALD_USER_MAX_REMINDERS. */
let h: TestHarness;
before(async () => {
  h = await createHarness({ HERALD_USER_MAX_DEVICES: '2', HERALD_USER_MAX_REMINDERS: '2' });
});
after(async () => h.close());

const ios = (i: number) => ({ platform: 'ios', token: i.toString(16).padStart(2, '0').repeat(32) });

test('a third device is 422 USER_LIMIT_REACHED, even when the registrations arrive together; re-registering one is not a new one', async () => {
  const answers = await Promise.all([1, 2, 3].map((i) => h.request({ method: 'POST', url: '/v1/users/capped/devices', payload: ios(i) })));
  const statuses = answers.map((r) => r.statusCode).sort();
  assert.deepEqual(statuses, [201, 201, 422]);
  const refused = answers.find((r) => r.statusCode === 422)!;
  assert.equal(refused.json().error.code, 'USER_LIMIT_REACHED');
  assert.equal(refused.json().error.details.limit, 'HERALD_USER_MAX_DEVICES');
  const kept = answers.filter((r) => r.statusCode === 201).map((r) => r.json().token as string);
  const again = await h.request({ method: 'POST', url: '/v1/users/capped/devices', payload: { platform: 'ios', token: kept[0] } });
  assert.ok(again.statusCode < 300, again.body);
  const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM devices WHERE user_id = 'capped'`);
  assert.equal(rows[0].n, 2);
  assert.equal((await h.request({ method: 'POST', url: '/v1/users/other-user/devices', payload: ios(3) })).statusCode, 201, 'the cap is per user');
});

test('a third reminder is 422 USER_LIMIT_REACHED; after deleting one there is room again', async () => {
  await h.request({ method: 'PUT', url: '/v1/users/planner', payload: {} });
  const date = new Date(Date.now() + 86_400_000).toISOString();
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await h.request({ method: 'POST', url: '/v1/users/planner/reminders', payload: { date, message: `r${i}` } }));
  assert.deepEqual(made.map((r) => r.statusCode), [201, 201, 422]);
  assert.equal(made[2]!.json().error.code, 'USER_LIMIT_REACHED');
  assert.equal((await h.request({ method: 'DELETE', url: `/v1/users/planner/reminders/${made[0]!.json().id}` })).statusCode, 204);
  assert.equal((await h.request({ method: 'POST', url: '/v1/users/planner/reminders', payload: { date, message: 'again' } })).statusCode, 201);
});

test('reminders arriving together for a user herald has not seen yet still stop at the limit', async () => {
  const date = new Date(Date.now() + 86_400_000).toISOString();
  for (let round = 0; round < 5; round++) {
    const user = `newcomer-${round}`;
    const made = await Promise.all([0, 1, 2, 3].map((i) => h.request({ method: 'POST', url: `/v1/users/${user}/reminders`, payload: { date, message: `r${i}` } })));
    assert.deepEqual(made.map((r) => r.statusCode).sort(), [201, 201, 422, 422], made.map((r) => r.body).join('\n'));
    const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM reminders WHERE user_id = $1`, [user]);
    assert.equal(rows[0].n, 2);
  }
});
