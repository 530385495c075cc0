/**
 * What scoped keys and rate limits cost: POST /v1/notifications at 50 connections against two
 * real `herald api` processes on one database, measured in the same run and alternated
 * (off, on, off, on) so neither gets the warmer database:
 *
 *   off: every HERALD_RATE_LIMIT_* at 0 and an admin key (no counting, the one-line scope check)
 *   on:  the default limits' machinery (per-key count in PostgreSQL, limit high enough never to
 *        refuse) and a key with only `notifications:write`, limited to one app
 *
 *   npm run bench -- access
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import autocannon from 'autocannon';
import { createTestDatabase } from '../test/helpers/db.ts';
import { freePort, runHerald, spawnHerald, tempDir, waitFor200, type HeraldProcess } from '../test/helpers/herald-process.ts';

const DURATION = Number(process.env.HERALD_BENCH_API_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.HERALD_BENCH_API_CONNECTIONS ?? 50);

const db = await createTestDatabase(2);
const dataDir = await tempDir('herald-bench-access-');
const common = {
  HERALD_DATABASE_URL: db.url,
  HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
  HERALD_HOST: '127.0.0.1',
  HERALD_DATA_DIR: dataDir,
  HERALD_DATABASE_POOL_SIZE: '20',
  HERALD_LOG_LEVEL: 'warn',
};
const keyOf = async (args: string[]) => {
  const made = await runHerald(['keys', 'create', ...args], common);
  if (made.code !== 0) throw new Error(made.stderr);
  return made.stdout.trim();
};
const adminKey = await keyOf(['--name', 'bench-admin']);
const scopedKey = await keyOf(['--name', 'bench-scoped', '--scopes', 'notifications:write', '--app', 'default']);

async function start(env: Record<string, string>): Promise<{ proc: HeraldProcess; base: string }> {
  const port = await freePort();
  const proc = spawnHerald(['api'], { ...common, ...env, HERALD_PORT: String(port) });
  const base = `http://127.0.0.1:${port}`;
  await waitFor200(`${base}/readyz`, proc);
  return { proc, base };
}
const off = await start({ HERALD_RATE_LIMIT_PER_KEY: '0', HERALD_RATE_LIMIT_PER_USER: '0', HERALD_RATE_LIMIT_AUTH_FAILURES: '0' });
const on = await start({ HERALD_RATE_LIMIT_PER_KEY: '100000000', HERALD_RATE_LIMIT_WINDOW_SECONDS: '60' });

for (let i = 0; i < 100; i++) {
  await fetch(`${off.base}/v1/users/user-${i}`, { method: 'PUT', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body: '{}' });
}

let n = 0;
async function load(base: string, key: string, seconds: number) {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [{ method: 'POST', path: '/v1/notifications', headers, setupRequest: (req) => ({ ...req, body: JSON.stringify({ to: { userId: `user-${n++ % 100}` }, channels: ['inbox'], title: 'Hello' }) }) }],
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.timeouts + result.non2xx, total: result.requests.total };
}

await load(off.base, adminKey, 2);
await load(on.base, scopedKey, 2);
const runs: { mode: 'off' | 'on'; rps: number; p50: number; p99: number; errors: number; total: number }[] = [];
for (let round = 0; round < 2; round++) {
  runs.push({ mode: 'off', ...(await load(off.base, adminKey, DURATION)) });
  runs.push({ mode: 'on', ...(await load(on.base, scopedKey, DURATION)) });
}
const { rows: counted } = await db.pool.query<{ count: number }>(`SELECT count FROM rate_limits WHERE bucket LIKE 'key:%'`);
for (const p of [off, on]) {
  p.proc.child.kill('SIGTERM');
  await p.proc.exited;
}
await db.close();
await rm(dataDir, { recursive: true, force: true });

const mean = (mode: string, f: (r: (typeof runs)[number]) => number) => {
  const rs = runs.filter((r) => r.mode === mode);
  return rs.reduce((s, r) => s + f(r), 0) / rs.length;
};
console.log(`\nPOST /v1/notifications, ${CONNECTIONS} connections, ${DURATION} s per run, runs alternated`);
console.log('| run | limits and scopes | requests/s | p50 ms | p99 ms | non-2xx/errors |');
console.log('|---|---|---:|---:|---:|---:|');
runs.forEach((r, i) => console.log(`| ${i + 1} | ${r.mode} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} |`));
const ratio = mean('on', (r) => r.rps) / mean('off', (r) => r.rps);
console.log(`\nmean requests/s: off ${mean('off', (r) => r.rps).toFixed(0)}, on ${mean('on', (r) => r.rps).toFixed(0)}; on/off = ${ratio.toFixed(2)}× (target ≥ 0.9×)`);
console.log(`(the per-key counter of the "on" process reached ${counted.map((c) => c.count).join(', ') || 'nothing'} in its last window)`);
