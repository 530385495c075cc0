import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { webhookSink, eventually, spawnHerald } from './helpers/engine.ts';

/**
 * HERALD_DISPATCH_MODE=nats end to end with real processes: `herald scheduler` publishes due
 * deliveries to JetStream (the NATS server on 127.0.0.1:4222), two `herald worker` processes
 * consume them and record the verdicts in PostgreSQL.
 */
let db: TestDatabase;
const children: ChildProcess[] = [];

before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await db.close();
});

test('scale-out mode: deliveries travel through JetStream to two worker processes, each sent once', async () => {
  const sink = await webhookSink();
  const env = {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_WEBHOOK_URL: sink.url,
    HERALD_DISPATCH_MODE: 'nats',
    HERALD_DISPATCH_SUBJECT_PREFIX: `herald_t_${randomBytes(4).toString('hex')}`,
    HERALD_WORKER_CHANNELS: 'webhook',
  };
  try {
    for (const role of ['scheduler', 'worker', 'worker']) {
      const child = spawnHerald([role], env);
      let err = '';
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code, signal) => {
        if (code && signal !== 'SIGKILL') console.error(`${role} exited ${code}: ${err}`);
      });
      children.push(child);
    }
    const service = new NotificationService(db.pool);
    const batch = Array.from({ length: 300 }, (_, i) => ({ to: { userId: `d${i % 10}` }, title: `n${i}`, channels: ['webhook' as const] }));
    const created = await service.createMany(batch, { source: 'test' });
    await eventually(async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM deliveries WHERE notification_id = ANY ($1) AND status = 'sent'`,
        [created.map((c) => c.id)],
      );
      return rows[0]!.n === 300;
    }, 60_000, 'all 300 sent through JetStream');
    const ids = sink.received.map((r) => String(r.headers['herald-delivery-id']));
    assert.equal(new Set(ids).size, 300);
    assert.equal(ids.length, 300, 'nothing sent twice');
    for (const c of children) c.kill('SIGTERM');
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))))));
    assert.deepEqual(codes, [0, 0, 0]);
  } finally {
    await sink.close();
  }
});
