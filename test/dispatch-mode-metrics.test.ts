import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { webhookSink, eventually, spawnHerald } from './helpers/engine.ts';
import { freePort, tempDir, waitFor200 } from './helpers/herald-process.ts';

/**
 * HERALD_DISPATCH_MODE=nats records the engine's metrics as PostgreSQL mode does: lateness, send
 * time and outcomes per provider, on the process's /metrics, so dashboards do not go blank when
 * a deployment switches transport.
 */
let db: TestDatabase;
let dataDir: string;

before(async () => {
  db = await createTestDatabase();
  dataDir = await tempDir('herald-dispatch-metrics-');
});
after(async () => {
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** The value of one sample line, e.g. `herald_deliveries_total{provider="webhook",outcome="sent"}`. */
function sample(exposition: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const got = Object.fromEntries(body.split(',').filter(Boolean).map((kv) => {
      const i = kv.indexOf('=');
      return [kv.slice(0, i), JSON.parse(kv.slice(i + 1)) as string];
    }));
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

test('NATS dispatch mode records lateness, send time and outcomes on /metrics, as PostgreSQL mode does', async () => {
  const sink = await webhookSink((_r, n) => (n === 1 ? 503 : 200));
  const port = await freePort();
  const child = spawnHerald(['start'], {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_PORT: String(port),
    HERALD_HOST: '127.0.0.1',
    HERALD_DATA_DIR: dataDir,
    HERALD_ROLES: 'api,scheduler,worker',
    HERALD_WEBHOOK_URL: sink.url,
    HERALD_DISPATCH_MODE: 'nats',
    HERALD_DISPATCH_SUBJECT_PREFIX: `herald_m_${randomBytes(4).toString('hex')}`,
    HERALD_WORKER_CHANNELS: 'webhook',
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    await waitFor200(`http://127.0.0.1:${port}/readyz`, { child, output: () => output, exited }, 60_000);
    const service = new NotificationService(db.pool);
    const created = await service.createMany(Array.from({ length: 20 }, (_, i) => ({ to: { userId: `m${i}` }, title: `n${i}`, channels: ['webhook' as const] })), { source: 'test' });
    await eventually(async () => {
      const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = ANY ($1) AND status = 'sent'`, [created.map((c) => c.id)]);
      return rows[0]!.n === 20;
    }, 60_000, 'all 20 sent through JetStream');
    const exposition = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const webhook = { provider: 'webhook' };
    // 21 attempts: the first answer was 503 (a retry), then 20 sends.
    assert.equal(sample(exposition, 'herald_delivery_lateness_seconds_count', webhook), 21, exposition.slice(0, 2000));
    assert.equal(sample(exposition, 'herald_delivery_send_seconds_count', webhook), 21);
    assert.equal(sample(exposition, 'herald_deliveries_total', { provider: 'webhook', outcome: 'sent' }), 20);
    assert.equal(sample(exposition, 'herald_deliveries_total', { provider: 'webhook', outcome: 'retry' }), 1);
  } finally {
    child.kill('SIGTERM');
    await exited;
    await sink.close();
  }
});
