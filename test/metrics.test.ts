import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { spawnHerald } from './helpers/engine.ts';
import { freePort, tempDir, waitFor200 } from './helpers/herald-process.ts';

/**
 * What Prometheus scrapes from a real `herald start` (api, scheduler, worker, relay and ingest on
 * the machine's NATS): every metric name follows Prometheus' naming rules
 * (https://prometheus.io/docs/practices/naming/), and the process metrics carry the names every
 * Node.js dashboard expects.
 */

let db: TestDatabase;
let dataDir: string;
let exposition: string;

before(async () => {
  db = await createTestDatabase(2);
  dataDir = await tempDir('herald-metrics-');
  const port = await freePort();
  const suffix = randomBytes(3).toString('hex');
  const child = spawnHerald(['start'], {
    HERALD_DATABASE_URL: db.url,
    HERALD_SECRET_KEY: randomBytes(32).toString('hex'),
    HERALD_PORT: String(port),
    HERALD_HOST: '127.0.0.1',
    HERALD_DATA_DIR: dataDir,
    HERALD_DATABASE_POOL_SIZE: '4',
    HERALD_ROLES: 'api,scheduler,worker,relay,ingest',
    HERALD_EVENTS_BROKER: 'nats',
    HERALD_EVENTS_TOPIC: `herald.metrics-test.events.${suffix}`,
    HERALD_INGEST_FROM: 'nats',
    HERALD_INGEST_TOPIC: `herald.metrics-test.ingest.${suffix}`,
    HERALD_INGEST_SUBSCRIPTION: `metrics-test-${suffix}`,
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    await waitFor200(`http://127.0.0.1:${port}/readyz`, { child, output: () => output, exited }, 60_000);
    // One request first, so the HTTP metrics have samples too.
    exposition = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    exposition = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});

after(async () => {
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** name → type, from the `# TYPE` lines. */
function metricTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(match[1]!, match[2]!);
  return types;
}

test('every exported metric name follows Prometheus naming: _total on counters only, base units as suffixes, one prefix', () => {
  const types = metricTypes(exposition);
  assert.ok(types.size > 20, `metrics scraped:\n${exposition.slice(0, 500)}`);
  const problems: string[] = [];
  for (const [name, type] of types) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) problems.push(`${name}: not a valid metric name`);
    if (type === 'counter' && !name.endsWith('_total')) problems.push(`${name}: a counter ends in _total`);
    if (type !== 'counter' && name.endsWith('_total')) problems.push(`${name}: only counters end in _total (this is a ${type})`);
    const words = name.split('_');
    if (words.some((w, i) => i > 0 && w === words[i - 1])) problems.push(`${name}: a word repeated (doubled prefix)`);
    if (name.indexOf('herald_', 1) > 0) problems.push(`${name}: herald_ inside the name`);
    if (/_(ms|msec|milliseconds|us|microseconds|ns|nanoseconds|minutes|hours|days|kb|mb|gb|kilobytes|megabytes|gigabytes|percent)(_|$)/.test(name)) {
      problems.push(`${name}: not a base unit (seconds, bytes, ratios)`);
    }
    const base = name.replace(/_total$/, '');
    for (const unit of ['seconds', 'bytes']) {
      if (words.includes(unit) && !base.endsWith(`_${unit}`)) problems.push(`${name}: the unit goes last (…_${unit}${type === 'counter' ? '_total' : ''})`);
    }
    if ((type === 'histogram' || type === 'summary') && !/_(seconds|bytes)$/.test(name) && !name.endsWith('_size')) {
      problems.push(`${name}: a ${type} of durations or sizes names its unit`);
    }
  }
  assert.deepEqual(problems, []);
});

test('process metrics have their conventional names; herald’s own carry one herald_ prefix', () => {
  const types = metricTypes(exposition);
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    assert.ok(types.has(name), `${name} is exported`);
  }
  for (const name of ['herald_http_requests_total', 'herald_http_request_duration_seconds', 'herald_deliveries_total', 'herald_delivery_lateness_seconds', 'herald_relay_events_published_total', 'herald_ingest_messages_total']) {
    assert.ok(types.has(name), `${name} is exported`);
  }
  const foreign = [...types.keys()].filter((n) => !/^(herald|process|nodejs)_/.test(n));
  assert.deepEqual(foreign, [], 'every metric is herald_*, process_* or nodejs_*');
});
