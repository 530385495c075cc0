import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { webhookSink, eventually, spawnHerald } from './helpers/engine.ts';

/**
 * The engine across real processes: two `herald worker` processes on one table send nothing
 * twice, and a worker killed with SIGKILL mid-batch loses nothing.
 */
let db: TestDatabase;
let service: NotificationService;
const children: ChildProcess[] = [];

before(async () => {
  db = await createTestDatabase();
  service = new NotificationService(db.pool);
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await db.close();
});

function worker(sinkUrl: string, extra: Record<string, string> = {}): ChildProcess {
  const child = spawnHerald(['worker'], {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_WEBHOOK_URL: sinkUrl,
    HERALD_WORKER_CHANNELS: 'webhook',
    HERALD_WORKER_LEASE_SECONDS: '5',
    HERALD_DATABASE_POOL_SIZE: '4',
    ...extra,
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  child.on('exit', (code, signal) => {
    if (code && code !== 0 && signal !== 'SIGKILL') console.error(`worker exited ${code}: ${err}`);
  });
  children.push(child);
  return child;
}

async function createWebhooks(n: number, sendAt: Date): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 500) {
    const batch = Array.from({ length: Math.min(500, n - i) }, (_, j) => ({ to: { userId: `p${(i + j) % 100}` }, title: `n${i + j}`, channels: ['webhook' as const], sendAt: sendAt.toISOString() }));
    ids.push(...(await service.createMany(batch, { source: 'test' })).map((c) => c.id));
  }
  return ids;
}

async function allSent(ids: string[]): Promise<boolean> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM deliveries WHERE notification_id = ANY ($1) AND status = 'sent'`,
    [ids],
  );
  return rows[0]!.n === ids.length;
}

test('two worker processes on one table do not send a delivery twice', async () => {
  const sink = await webhookSink();
  try {
    const ids = await createWebhooks(2000, new Date(Date.now() + 2000));
    const a = worker(sink.url);
    const b = worker(sink.url);
    await eventually(() => allSent(ids), 120_000, 'all 2000 sent');
    const perDelivery = new Map<string, number>();
    for (const r of sink.received) {
      const id = String(r.headers['herald-delivery-id']);
      perDelivery.set(id, (perDelivery.get(id) ?? 0) + 1);
    }
    assert.equal(perDelivery.size, 2000);
    assert.deepEqual([...perDelivery.values()].filter((n) => n > 1), [], 'no delivery sent twice');
    a.kill('SIGTERM');
    b.kill('SIGTERM');
    const codes = await Promise.all([a, b].map((c) => new Promise<number | null>((r) => c.once('exit', (code) => r(code)))));
    assert.deepEqual(codes, [0, 0], 'workers shut down cleanly on SIGTERM');
  } finally {
    await sink.close();
  }
});

test('kill -9 of a worker in the middle of a batch loses nothing', async () => {
  // A slow receiver keeps many deliveries in flight when the worker dies.
  const sink = await webhookSink(async () => {
    await new Promise((r) => setTimeout(r, 100));
    return 200;
  });
  try {
    const ids = await createWebhooks(3000, new Date());
    // A lease far longer than the test: recovery must not wait for it (dead workers are detected).
    const longLease = { HERALD_WORKER_LEASE_SECONDS: '600' };
    const a = worker(sink.url, { HERALD_WORKER_CONCURRENCY: '200', ...longLease });
    await eventually(async () => sink.received.length >= 300, 30_000, 'first 300 received');
    a.kill('SIGKILL');
    await new Promise<void>((r) => a.once('exit', () => r()));
    const receivedBeforeKill = sink.received.length;
    assert.ok(!(await allSent(ids)), 'the kill happened mid-run');
    const restarted = Date.now();
    worker(sink.url, longLease);
    await eventually(() => allSent(ids), 120_000, 'all 3000 sent after restart');
    assert.ok(Date.now() - restarted < 120_000, 'recovered without waiting for the 600 s lease');
    const distinct = new Set(sink.received.map((r) => String(r.headers['herald-delivery-id'])));
    assert.equal(distinct.size, 3000, 'every delivery arrived');
    const duplicates = sink.received.length - distinct.size;
    assert.ok(duplicates <= 200, `duplicates (${duplicates}) at most the killed worker's in-flight window`);
    assert.ok(receivedBeforeKill >= 300);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'sending'`);
    assert.equal(rows[0]!.n, 0, 'nothing left leased');
  } finally {
    await sink.close();
  }
});
