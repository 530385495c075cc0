import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, type RunningEngine } from './helpers/engine.ts';
import { asUser } from './helpers/user-token.ts';
import type { Queryable } from '../src/db/pool.ts';

/**
 * Erasure (docs/privacy.md): after DELETE /v1/users/{userId} no row of any table holds the
 * user's id or e-mail address except the one tombstone event. The scan reads every text, JSON
 * and text-array column of every table, so a table added later that keeps user data fails here.
 */
let h: TestHarness;
let engine: RunningEngine;
before(async () => {
  h = await createHarness();
  engine = await startEngine(h);
});
after(async () => {
  await engine.stop();
  await h.close();
});

const USER = 'erin-5b1c9e';
const EMAIL = 'erin.5b1c9e@example.com';

/** Every (table, column) whose text holds `needle`, with the number of rows. */
async function scan(db: Queryable, needles: readonly string[]): Promise<Map<string, number>> {
  const { rows: columns } = await db.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
        AND (c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea') OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_text', '_varchar')))`,
  );
  const found = new Map<string, number>();
  for (const { table_name: table, column_name: column } of columns) {
    const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${q(table)} WHERE ${needles.map((_, i) => `strpos(${q(column)}::text, $${i + 1}) > 0`).join(' OR ')}`,
      [...needles],
    );
    if (rows[0]!.n > 0) found.set(`${table}.${column}`, rows[0]!.n);
  }
  return found;
}

async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('erasing a user leaves no row with their id or address but the tombstone; what others received stays', async () => {
  assert.equal((await h.request({ method: 'PUT', url: '/v1/users/other-person', payload: { email: 'other@example.com' } })).statusCode, 200);
  // Created through an app-limited key: the user also belongs to that app.
  const key = (await h.request({ method: 'POST', url: '/v1/keys', payload: { name: 'shop', scopes: ['users:write', 'users:read'], appIds: ['default'] } })).json().key as string;
  assert.equal((await h.app.inject({ method: 'PUT', url: `/v1/users/${USER}`, headers: { authorization: `Bearer ${key}` }, payload: { email: EMAIL, name: 'Erin' } })).statusCode, 200);
  assert.equal((await h.request({ method: 'PUT', url: `/v1/users/${USER}`, payload: { email: EMAIL, name: 'Erin', timezone: 'Europe/Berlin' } })).statusCode, 200);
  const device = await h.request({ method: 'POST', url: `/v1/users/${USER}/devices`, headers: { 'idempotency-key': 'erin-device' }, payload: { platform: 'ios', token: 'ef'.repeat(32) } });
  assert.equal(device.statusCode, 201, device.body);
  const reminder = await h.app.inject({ method: 'POST', url: '/v1/me/reminders', headers: { ...(await asUser(USER, { claims: { email: EMAIL } })), 'idempotency-key': 'erin-reminder' }, payload: { date: new Date(Date.now() + 86_400_000).toISOString(), message: 'Water the plants' } });
  assert.equal(reminder.statusCode, 201, reminder.body);
  const own = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: USER }, channels: ['inbox'], title: 'Only for Erin', data: { account: USER } } });
  const shared = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userIds: [USER, 'other-person'] }, channels: ['inbox'], title: 'For both' } });
  const later = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: USER }, channels: ['inbox'], title: 'Tomorrow', sendAt: new Date(Date.now() + 86_400_000).toISOString() } });
  for (const r of [own, shared, later]) assert.equal(r.statusCode, 202, r.body);
  await waitUntil('the inbox items', async () => (await h.db.pool.query(`SELECT 1 FROM inbox_items WHERE user_id = $1`, [USER])).rowCount === 2);
  await waitUntil('the shared delivery to the other user', async () => (await h.db.pool.query(`SELECT 1 FROM inbox_items WHERE user_id = 'other-person'`)).rowCount === 1);

  const before = await scan(h.db.pool, [USER, EMAIL]);
  for (const where of ['users.id', 'users.email', 'devices.user_id', 'reminders.user_id', 'notifications.user_ids', 'notifications.payload', 'deliveries.user_id', 'inbox_items.user_id', 'events.user_id', 'events.actor', 'idempotency_keys.caller', 'idempotency_keys.response_body', 'rate_limits.bucket', 'app_users.user_id']) {
    assert.ok(before.has(where), `the scan sees ${where} before the erasure (found: ${[...before.keys()].join(', ')})`);
  }

  const erased = await h.request({ method: 'DELETE', url: `/v1/users/${USER}` });
  assert.equal(erased.statusCode, 204, erased.body);

  const left = await scan(h.db.pool, [USER, EMAIL]);
  const tombstones = await h.db.pool.query<{ type: string; item_type: string; item_id: string; data: unknown }>(`SELECT type, item_type, item_id, data FROM events WHERE user_id = $1`, [USER]);
  assert.deepEqual(tombstones.rows, [{ type: 'user:deleted', item_type: 'user', item_id: USER, data: {} }]);
  assert.deepEqual([...left.entries()].sort(), [['events.item_id', 1], ['events.user_id', 1]], 'only the tombstone names the user');

  // What the other recipient got is untouched; the notification only Erin received is gone.
  const kept = await h.request({ method: 'GET', url: `/v1/notifications/${shared.json().id}` });
  assert.equal(kept.statusCode, 200);
  assert.equal((await h.db.pool.query(`SELECT 1 FROM inbox_items WHERE user_id = 'other-person'`)).rowCount, 1);
  assert.equal((await h.request({ method: 'GET', url: `/v1/notifications/${own.json().id}` })).statusCode, 404);
  assert.equal((await h.request({ method: 'GET', url: `/v1/users/${USER}` })).statusCode, 404);
  assert.equal((await h.request({ method: 'DELETE', url: `/v1/users/${USER}` })).statusCode, 404);

  // The audit trail shows the deletion and who made it, with nothing about the person.
  const audit = (await h.request({ method: 'GET', url: '/v1/audit?itemType=user' })).json().items as { type: string; actor: string; data: unknown }[];
  assert.equal(audit.at(-1)!.type, 'user:deleted');
  assert.match(audit.at(-1)!.actor, /^key:/);
  assert.deepEqual(audit.at(-1)!.data, {});
});
