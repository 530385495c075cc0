// The durable baselines of the engine benchmark, each in its own process like `herald worker`:
//
//   plain     a bare table and SKIP LOCKED batches of 500: claim (UPDATE … RETURNING), POST
//             each job, record the batch `sent` in one UPDATE. No generality (one channel, no
//             retries, no events): the floor cost of the design herald's engine builds on.
//   graphile  graphile-worker (the best-known PostgreSQL job queue for Node.js), with its local
//             queue (batched fetches) and batched completions on.
//
// Both POST a webhook body of herald's shape to the same sink through the same undici settings
// herald's webhook channel uses, with at most 1,000 in flight (herald's default concurrency).
// Usage: node peer-queue.ts <plain|graphile> <database url> <sink url> <count>; over IPC it
// answers 'loaded' when its jobs are in the table, starts on 'go', and exits on 'stop'.
import { Agent, request } from 'undici';
import pg from 'pg';

const [mode, dbUrl, sinkUrl, countArg] = process.argv.slice(2) as [string, string, string, string];
const count = Number(countArg);
const INFLIGHT = 1000;
const agent = new Agent({ connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });

async function post(id: string, dueAt: string): Promise<boolean> {
  const body = JSON.stringify({ deliveryId: id, notificationId: `n${id}`, appId: 'default', userId: `u${Number(id) % 1000}`, attempt: 1, title: `n${id}`, dueAt });
  try {
    const res = await request(sinkUrl, { method: 'POST', body, headers: { 'content-type': 'application/json', 'herald-delivery-id': id }, dispatcher: agent });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 300;
  } catch {
    return false;
  }
}

function send(msg: object): void {
  process.send?.(msg);
}

function onMessage(type: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (m: { type: string }) => {
      if (m.type !== type) return;
      process.off('message', listener);
      resolve();
    };
    process.on('message', listener);
  });
}

async function plain(): Promise<void> {
  const pool = new pg.Pool({ connectionString: dbUrl, max: 4, idleTimeoutMillis: 0 });
  await pool.query(`DROP TABLE IF EXISTS plain_jobs;
    CREATE TABLE plain_jobs (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'pending', run_at timestamptz NOT NULL,
      attempts int NOT NULL DEFAULT 0, locked_until timestamptz, payload jsonb NOT NULL, sent_at timestamptz);
    CREATE INDEX plain_jobs_due ON plain_jobs (run_at) WHERE status IN ('pending', 'running')`);
  await pool.query(
    `INSERT INTO plain_jobs (run_at, payload)
     SELECT now(), jsonb_build_object('title', 'n' || g) FROM generate_series(1, $1::int) AS g`,
    [count],
  );
  await pool.query('VACUUM ANALYZE plain_jobs');
  send({ type: 'loaded' });
  await onMessage('go');
  const loop = async () => {
    for (;;) {
      const { rows } = await pool.query<{ id: string; run_at: Date }>(
        `UPDATE plain_jobs SET status = 'running', attempts = attempts + 1, locked_until = now() + interval '30 seconds'
          WHERE id = ANY (ARRAY(SELECT id FROM plain_jobs WHERE status IN ('pending', 'running') AND run_at <= now()
                                   AND (locked_until IS NULL OR locked_until < now())
                                 ORDER BY run_at LIMIT 500 FOR UPDATE SKIP LOCKED))
          RETURNING id::text, run_at, payload`,
      );
      if (rows.length === 0) return;
      const ok = await Promise.all(rows.map((r) => post(r.id, r.run_at.toISOString())));
      await pool.query(`UPDATE plain_jobs SET status = 'sent', sent_at = now(), locked_until = NULL WHERE id = ANY ($1::bigint[])`, [rows.filter((_, i) => ok[i]).map((r) => r.id)]);
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT / 500 }, loop));
  // The connections stay open until 'stop' (which exits): the benchmark reads their backends'
  // CPU when it sees every job done, and a backend that has exited can no longer be read.
  await onMessage('stop');
  await pool.end();
}

async function graphile(): Promise<void> {
  const { run, makeWorkerUtils, Logger } = await import('graphile-worker');
  const logger = new Logger(() => () => undefined);
  const utils = await makeWorkerUtils({ connectionString: dbUrl, logger });
  await utils.migrate();
  const now = new Date();
  for (let i = 0; i < count; i += 10_000) {
    await utils.addJobs(Array.from({ length: Math.min(10_000, count - i) }, (_, j) => ({ identifier: 'hook', payload: { id: String(i + j + 1), title: `n${i + j + 1}`, dueAt: now.toISOString() } })));
  }
  await utils.release();
  send({ type: 'loaded' });
  await onMessage('go');
  const runner = await run({
    connectionString: dbUrl,
    noHandleSignals: true,
    logger,
    taskList: {
      hook: async (payload) => {
        const p = payload as { id: string; dueAt: string };
        if (!(await post(p.id, p.dueAt))) throw new Error('webhook failed');
      },
    },
    preset: {
      worker: {
        concurrentJobs: Number(process.env.BENCH_GRAPHILE_CONCURRENCY ?? 200),
        maxPoolSize: 12,
        pollInterval: 1000,
        localQueue: { size: 500 },
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
      },
    },
  });
  await onMessage('stop');
  await runner.stop();
}

process.on('message', (m: { type: string }) => {
  if (m.type === 'stop' && mode !== 'graphile') process.exit(0);
});
if (mode === 'plain') await plain();
else if (mode === 'graphile') await graphile();
else throw new Error(`unknown mode ${mode}`);
await agent.close();
process.exit(0);
