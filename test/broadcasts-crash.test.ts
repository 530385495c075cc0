import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, spawnHerald } from './helpers/engine.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { TopicService } from '../src/topics/index.ts';

/**
 * A broadcast to 20,000 subscribers survives `kill -9` of the process fanning it out: after a
 * restart every subscriber has exactly one delivery, none skipped, none doubled.
 */
let db: TestDatabase;
const children: ChildProcess[] = [];
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await db.close();
});

const SUBSCRIBERS = 20_000;

function scheduler(): ChildProcess {
  const child = spawnHerald(['scheduler'], {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_DATABASE_POOL_SIZE: '4',
    // Small chunks: the kill lands between (or inside) many transactions.
    HERALD_FANOUT_CHUNK_SIZE: '250',
  });
  children.push(child);
  return child;
}

async function progress(id: string): Promise<{ status: string; fanned_out: number; deliveries: number }> {
  const { rows } = await db.pool.query(`SELECT status, fanned_out::int, deliveries::int FROM broadcasts WHERE notification_id = $1`, [id]);
  return rows[0];
}

test('kill -9 in the middle of a fan-out: after restart each of 20,000 subscribers has exactly one delivery', async () => {
  const ids = Array.from({ length: SUBSCRIBERS }, (_, i) => `fan-${String(i).padStart(6, '0')}`);
  await db.pool.query(`INSERT INTO users (id) SELECT unnest($1::text[])`, [ids]);
  const topics = new TopicService(db.pool);
  await topics.put('default', 'everyone', {});
  for (let i = 0; i < ids.length; i += 10_000) await topics.subscribe('default', 'everyone', ids.slice(i, i + 10_000));
  // Two channels per recipient: a repeated chunk would show as doubled rows of both.
  const created = await new NotificationService(db.pool).create({ to: { topic: 'everyone' }, title: 'Goal!', channels: ['inbox', 'webhook'] }, { source: 'test' });

  const first = scheduler();
  const mid = await eventually(async () => {
    const p = await progress(created.id);
    return p.fanned_out >= 2000 ? p : undefined;
  }, 120_000, 'fan-out under way');
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const atKill = await progress(created.id);
  assert.notEqual(atKill.status, 'complete', `the kill came after the end (${JSON.stringify(atKill)}); nothing was tested`);
  assert.ok(atKill.fanned_out >= mid.fanned_out);
  // What the cursor says is exactly what exists: the chunk in flight rolled back with the process.
  const { rows: partial } = await db.pool.query(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = $1`, [created.id]);
  assert.equal(partial[0].n, atKill.fanned_out * 2);

  scheduler();
  const done = await eventually(async () => {
    const p = await progress(created.id);
    return p.status === 'complete' ? p : undefined;
  }, 120_000, 'fan-out complete after restart');
  assert.equal(done.fanned_out, SUBSCRIBERS);
  assert.equal(done.deliveries, SUBSCRIBERS * 2);
  const { rows } = await db.pool.query(
    `SELECT count(*)::int AS rows, count(DISTINCT (user_id, channel))::int AS distinct_rows, count(DISTINCT user_id)::int AS users
       FROM deliveries WHERE notification_id = $1`,
    [created.id],
  );
  assert.deepEqual(rows[0], { rows: SUBSCRIBERS * 2, distinct_rows: SUBSCRIBERS * 2, users: SUBSCRIBERS });
});
