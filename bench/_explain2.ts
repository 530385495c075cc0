import { readFileSync } from 'node:fs';
import { createTestDatabase } from '../test/helpers/db.ts';
import { NotificationService } from '../src/notifications/service.ts';
import { claimDue, recordOutcomes } from '../src/dispatch/repository.ts';
const variant = process.env.V ?? 'full';
const db = await createTestDatabase(1);
const service = new NotificationService(db.pool);
for (let i = 0; i < 60_000; i += 10_000) {
  const batch = Array.from({ length: 10_000 }, (_, j) => ({ to: { userId: `u${(i + j) % 1000}` }, title: `n${i + j}`, channels: ['webhook' as const] }));
  await service.createMany(batch, { source: 'bench' });
}
if (variant === 'plain') {
  await db.pool.query(`CREATE TABLE plain_jobs (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'pending', run_at timestamptz NOT NULL, attempts int NOT NULL DEFAULT 0, locked_until timestamptz, sent_at timestamptz, payload jsonb NOT NULL);
    CREATE INDEX plain_jobs_due ON plain_jobs (run_at) WHERE status IN ('pending', 'running')`);
  await db.pool.query(`INSERT INTO plain_jobs (run_at, payload) SELECT now(), jsonb_build_object('title', 'n' || g) FROM generate_series(1, 50000) AS g`);
}
if (process.env.EXP_SQL) await db.pool.query(process.env.EXP_SQL);
await db.pool.query('VACUUM ANALYZE');
const pid = (await db.pool.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
const cpu = () => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' '); return (Number(f[11]) + Number(f[12])) * 10_000; };
const bareClaim = async () => (await db.pool.query<{ id: string }>({ name: 'c', text: `UPDATE deliveries d SET status = 'sending', run_at = now() + interval '60 s', locked_by = 'w1', attempts = d.attempts + 1, updated_at = now()
  WHERE d.id = ANY (ARRAY(SELECT id FROM deliveries WHERE status IN ('pending','sending') AND run_at <= now() ORDER BY run_at LIMIT 250 FOR UPDATE SKIP LOCKED)) RETURNING d.id::text`, values: [] })).rows;
const bareOutcome = async (ids: string[]) => db.pool.query({ name: 'o', text: `UPDATE deliveries d SET status = 'sent', sent_at = now(), locked_by = NULL, updated_at = now() FROM unnest($1::bigint[]) v(id) WHERE d.id = v.id AND d.status = 'sending'`, values: [ids] });
const outcomeEv = async (ids: string[]) => db.pool.query({ name: 'oe', text: `WITH upd AS (UPDATE deliveries d SET status = 'sent', sent_at = now(), locked_by = NULL, updated_at = now() FROM unnest($1::bigint[]) v(id) WHERE d.id = v.id AND d.status = 'sending' RETURNING d.*)
  INSERT INTO events (user_id, type, item_type, item_id, data) SELECT user_id, 'notification:sent', 'notification', notification_id, jsonb_build_object('deliveryId', id::text, 'channel', channel) FROM upd`, values: [ids] });
let c = 0, o = 0, n = 0;
for (let r = 0; r < 200; r++) {
  const a = cpu();
  const ids = variant === 'plain' ? (await db.pool.query<{ id: string }>({ name: 'pc', text: `UPDATE plain_jobs SET status = 'running', attempts = attempts + 1, locked_until = now() + interval '30 seconds'
          WHERE id = ANY (ARRAY(SELECT id FROM plain_jobs WHERE status IN ('pending', 'running') AND run_at <= now() ORDER BY run_at LIMIT 250 FOR UPDATE SKIP LOCKED)) RETURNING id, payload`, values: [] })).rows.map((x) => x.id) : variant.startsWith('bare') ? (await bareClaim()).map((x) => x.id) : (await claimDue(db.pool, 'w1', 250, 60, ['webhook'])).map((j) => j.id);
  const b = cpu();
  if (variant === 'plain') await db.pool.query({ name: 'po', text: `UPDATE plain_jobs SET status = 'sent', sent_at = now(), locked_until = NULL WHERE id = ANY ($1::bigint[])`, values: [ids] });
  else if (variant === 'bare') await bareOutcome(ids);
  else if (variant === 'bare-ev') await outcomeEv(ids);
  else await recordOutcomes(db.pool, ids.map((id) => ({ id, kind: 'sent' as const })));
  const d = cpu();
  if (ids.length === 0) break;
  c += b - a; o += d - b; n += ids.length;
}
console.log(`${variant} ${n} rows: PG CPU claim ${(c / n).toFixed(1)} µs/row, outcome ${(o / n).toFixed(1)} µs/row, total ${((c + o) / n).toFixed(1)}`);
await db.close();
