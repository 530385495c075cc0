import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, scriptedChannel, eventually, type RunningEngine } from './helpers/engine.ts';

/**
 * A live worker that is slower than its lease (a starved CPU, a slow provider) keeps its rows:
 * it renews the leases of what it still has in flight, so a second worker never claims and sends
 * them again. Only a worker that is gone loses its rows (engine-processes.test.ts).
 */
let h: TestHarness;
const engines: RunningEngine[] = [];
const sends = new Map<string, number>();
// Each send takes twice the lease.
const slow = scriptedChannel('webhook', async (job) => {
  sends.set(job.id, (sends.get(job.id) ?? 0) + 1);
  await new Promise((r) => setTimeout(r, 4_000));
  return { status: 'sent', providerId: `slow-${job.id}` };
});

before(async () => {
  h = await createHarness({ HERALD_WEBHOOK_URL: 'https://hooks.example.com/in', HERALD_WEBHOOK_SECRET: 'whsec-lease' });
  for (let i = 0; i < 2; i++) engines.push(await startEngine(h, [slow], { leaseSeconds: 2, sweepIntervalMs: 300 }));
});
after(async () => {
  for (const e of engines) await e.stop();
  await h.close();
});

test('two workers slower than their lease send each delivery once: live workers renew their leases', async () => {
  const created = await h.services.notifications.createMany(
    Array.from({ length: 20 }, (_, i) => ({ to: { userId: `lease-${i}` }, title: `n${i}`, channels: ['webhook' as const] })),
    { source: 'test' },
  );
  const ids = created.map((c) => c.id);
  await eventually(async () => {
    const { rows } = await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE notification_id = ANY ($1) AND status = 'sent'`, [ids]);
    return rows[0]!.n === 20;
  }, 30_000, '20 sent');
  assert.equal(sends.size, 20);
  assert.deepEqual([...sends.values()].filter((n) => n > 1), [], 'no delivery sent twice');
  const { rows } = await h.db.pool.query<{ attempts: number }>(`SELECT attempts FROM deliveries WHERE notification_id = ANY ($1)`, [ids]);
  assert.ok(rows.every((r) => r.attempts === 1), 'each row claimed once');
});
