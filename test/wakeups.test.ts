import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { withQuietTransaction, type WakeupCoalescer, EVENTS_CHANNEL, REMINDERS_CHANNEL, DELIVERIES_CHANNEL } from '../src/db/wakeup.ts';

/**
 * Writers that NOTIFY nothing inside their transaction (src/db/wakeup.ts): a NOTIFY there holds
 * PostgreSQL's global notify lock through the commit flush, so concurrent writers would commit
 * one at a time. Reminder saves and device registrations ask for their wake-ups after commit;
 * the scheduler, the workers and the relay must still hear them.
 */
let h: TestHarness;
let listener: pg.Client;
const heard: Array<{ channel: string; payload: string }> = [];
/** Statements sent inside transactions on the services' connections while `recording`, BEGIN included. */
const statements: string[] = [];
let recording = false;

before(async () => {
  h = await createHarness();
  h.db.pool.on('acquire', (client: pg.PoolClient & { recorded?: boolean }) => {
    if (client.recorded) return;
    client.recorded = true;
    let inTransaction = false;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      const text = typeof first === 'string' ? first : String((first as { text?: string }).text ?? '');
      if (/^BEGIN/.test(text)) inTransaction = true;
      if (recording && inTransaction) statements.push(text);
      if (/^(COMMIT|ROLLBACK)/.test(text)) inTransaction = false;
      return query(...args);
    };
  });
  listener = new pg.Client({ connectionString: h.db.url });
  await listener.connect();
  listener.on('notification', (n) => heard.push({ channel: n.channel, payload: n.payload ?? '' }));
  for (const channel of [EVENTS_CHANNEL, REMINDERS_CHANNEL, DELIVERIES_CHANNEL]) await listener.query(`LISTEN ${channel}`);
});
after(async () => {
  await listener.end();
  await h.close();
});

async function heardOn(channel: string, payload?: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!heard.some((n) => n.channel === channel && (payload === undefined || n.payload === payload))) {
    if (Date.now() > deadline) throw new Error(`no NOTIFY on ${channel}${payload !== undefined ? ` with ${payload}` : ''}; heard ${JSON.stringify(heard)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a reminder saved notifies nothing inside its transaction, and the scheduler and the relay still hear of it after commit', async () => {
  heard.length = 0;
  statements.length = 0;
  recording = true;
  const date = new Date(Date.now() + 3_600_000).toISOString();
  const res = await h.request({ method: 'POST', url: '/v1/users/quiet-ada/reminders', payload: { date, message: 'Stand-up', channels: ['inbox'] } });
  recording = false;
  assert.equal(res.statusCode, 201, res.body);
  const begins = statements.filter((s) => /^BEGIN/.test(s));
  assert.ok(begins.length > 0 && begins.every((s) => /herald\.events_notify = 'off'/.test(s)), `every transaction was opened quiet: ${JSON.stringify(begins)}`);
  assert.deepEqual(statements.filter((s) => /pg_notify/i.test(s)), [], 'no NOTIFY statement inside the transaction');
  await heardOn(REMINDERS_CHANNEL, String(Date.parse(res.json().nextFireAt)));
  await heardOn(DELIVERIES_CHANNEL, String(Date.parse(res.json().nextFireAt)));
  await heardOn(EVENTS_CHANNEL);
  const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM events WHERE type IN ('reminder:created', 'notification:created') AND user_id = 'quiet-ada'`);
  assert.equal(rows[0].n, 2, 'the reminder and its occurrence were both recorded');
});

test('a device registered joins pending push notifications and wakes the workers after commit', async () => {
  await h.request({ method: 'PUT', url: '/v1/users/quiet-grace', payload: {} });
  const pending = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'quiet-grace' }, title: 'Later', channels: ['push'], sendAt: new Date(Date.now() + 3_600_000).toISOString() } });
  assert.equal(pending.statusCode, 202, pending.body);
  heard.length = 0;
  statements.length = 0;
  recording = true;
  const res = await h.request({ method: 'POST', url: '/v1/users/quiet-grace/devices', payload: { platform: 'ios', token: 'ab'.repeat(32) } });
  recording = false;
  assert.equal(res.statusCode, 201, res.body);
  assert.deepEqual(statements.filter((s) => /pg_notify/i.test(s)), []);
  await heardOn(DELIVERIES_CHANNEL);
  await heardOn(EVENTS_CHANNEL);
  const { rows } = await h.db.pool.query(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = $1 AND channel = 'push'`, [pending.json().id]);
  assert.equal(rows[0].n, 1, 'the new device joined the pending notification');
});

test('withQuietTransaction: the setting is off inside; wake-ups go out after commit, and none after a rollback', async () => {
  const sent: string[] = [];
  const coalescer = { eventsAdded: () => sent.push('events'), due: (channel: string, at: Date) => sent.push(`${channel}@${at.getTime()}`) } as unknown as WakeupCoalescer;
  const at = new Date(Date.now() + 60_000);
  const inside = await withQuietTransaction(h.db.pool, coalescer, async (client, wake) => {
    wake.remindersDue(at);
    wake.deliveriesDue(at);
    assert.deepEqual(sent, [], 'nothing is sent before commit');
    const { rows } = await client.query<{ v: string }>(`SELECT current_setting('herald.events_notify', true) AS v`);
    return rows[0]!.v;
  });
  assert.equal(inside, 'off');
  assert.deepEqual(sent.sort(), ['events', `${DELIVERIES_CHANNEL}@${at.getTime()}`, `${REMINDERS_CHANNEL}@${at.getTime()}`].sort());
  const { rows } = await h.db.pool.query<{ v: string | null }>(`SELECT current_setting('herald.events_notify', true) AS v`);
  assert.notEqual(rows[0]!.v, 'off', 'the setting does not outlive the transaction on its connection');

  sent.length = 0;
  await assert.rejects(withQuietTransaction(h.db.pool, coalescer, async (_client, wake) => {
    wake.remindersDue(at);
    throw new Error('changed my mind');
  }), /changed my mind/);
  assert.deepEqual(sent, [], 'a rolled-back transaction wakes nobody');
});
