/**
 * APNs senders per second, one run, the same fake APNs server (HTTP/2 + TLS, token auth, every
 * header rule checked) in a child process so it does not share the senders' event loop:
 *
 * - bare `node:http2` loop on one connection: the ceiling for Node on this machine;
 * - `@parse/node-apn` (its Provider, one connection);
 * - herald's APNs channel (default pool: grows past one connection only when 1000 streams are busy);
 * - herald's APNs channel held to one connection.
 *
 * Same payload, same token auth, same concurrency (1000 requests in flight) for all. Each sender
 * runs ROUNDS times, interleaved (the order turned by one each round); the table gives each
 * sender's best round and, steadier on a shared machine, the median of its per-round ratios to
 * the bare loop (each against the bare loop's run of the same round). Connections used are
 * counted by the fake.
 *
 * Then end to end: one `POST /v1/notifications` to a user with E2E_DEVICES iOS devices → fan-out
 * → the delivery engine (PostgreSQL claims and outcome writes, batch 500, 1000 in flight) → the
 * APNs channel → the same fake; timed until every delivery is recorded `sent` in PostgreSQL.
 *
 * `BENCH_HERALD_BEFORE=<root of another herald checkout>` adds that build's APNs channel as one
 * more sender (default pool) and runs its end to end too, in the same run, for before/after
 * figures (the checkout needs its own node_modules).
 *
 *   npm run bench -- apns
 */
import http2 from 'node:http2';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import apn from '@parse/node-apn';
import { createLogger } from '../src/log/index.ts';
import { loadConfig } from '../src/config/index.ts';
import type { AppChannel, AppCredentials, AppCredentialStore } from '../src/apps/types.ts';
import type { Channel, DeliveryJob } from '../src/channels/types.ts';
import { createApnsChannel, type ApnsChannelOptions } from '../src/channels/apns/index.ts';
import { createTestPki, loadTestPki, startFakeApns, type TestPki } from '../test/fakes/apns-server.ts';

const MESSAGES = Number(process.env.HERALD_BENCH_APNS_MESSAGES ?? 100_000);
const ROUNDS = Number(process.env.HERALD_BENCH_ROUNDS ?? 3);
const CONCURRENCY = 1000;
const E2E_DEVICES = Number(process.env.HERALD_BENCH_APNS_E2E_DEVICES ?? 100_000);
/** End-to-end rounds per build when BENCH_HERALD_BEFORE is set (one run otherwise). */
const E2E_ROUNDS = Number(process.env.HERALD_BENCH_APNS_E2E_ROUNDS ?? 2);
const BUNDLE = 'com.example.bench';
const TEAM = 'TEAMID1234';
const KEY_ID = 'KEYID12345';
const BEFORE = process.env.BENCH_HERALD_BEFORE;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PAYLOAD = { aps: { alert: { title: 'Hello', body: 'Your order has shipped' }, sound: 'default' }, orderId: 1234 };

interface Stats {
  sessions: number;
  count: number;
  violations: number;
}

function ask(child: ChildProcess): Promise<Stats> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as Stats));
    child.send('stats');
  });
}

const tokens = (n: number) => Array.from({ length: n }, () => randomBytes(32).toString('hex'));

interface Result {
  readonly rate: number;
  readonly failed: number;
  /** CPU time of this (sending) process per notification: steadier than wall time on a busy machine. */
  readonly cpuUs: number;
}

/** Runs `send` over `n` items with CONCURRENCY in flight; returns sends per second. */
async function drive(n: number, send: (i: number) => Promise<boolean>): Promise<Result> {
  let next = 0;
  let failed = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) if (!(await send(next++))) failed++;
    }),
  );
  const used = process.cpuUsage(cpu);
  return { rate: n / ((performance.now() - start) / 1000), failed, cpuUs: (used.user + used.system) / n };
}

async function bareLoop(origin: string, pki: TestPki, jwt: string, list: string[]) {
  const session = http2.connect(origin, { ca: pki.ca });
  const body = JSON.stringify(PAYLOAD);
  const one = (token: string) =>
    new Promise<boolean>((resolve) => {
      const req = session.request({
        ':method': 'POST',
        ':path': `/3/device/${token}`,
        authorization: `bearer ${jwt}`,
        'apns-topic': BUNDLE,
        'apns-push-type': 'alert',
        'apns-priority': '10',
        'apns-expiration': '0',
        'apns-id': randomUUID(),
      });
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', () => undefined);
      req.on('close', () => resolve(status === 200));
      req.on('error', () => undefined);
      req.end(body);
    });
  // The first request authenticates the connection; then APNs allows ~1000 streams.
  await one(list[0]!);
  const result = await drive(list.length, (i) => one(list[i]!));
  await new Promise<void>((r) => session.close(() => r()));
  return result;
}

async function nodeApn(origin: string, pki: TestPki, list: string[]) {
  const url = new URL(origin);
  const provider = new apn.Provider({
    token: { key: pki.tokenKey, keyId: KEY_ID, teamId: TEAM },
    address: url.hostname,
    port: Number(url.port),
    ca: [pki.ca],
    production: true,
  });
  const note = new apn.Notification();
  note.rawPayload = PAYLOAD;
  note.topic = BUNDLE;
  note.pushType = 'alert';
  note.priority = 10;
  note.expiry = 0;
  const one = async (token: string) => (await provider.send(note, token)).sent.length === 1;
  await one(list[0]!);
  const result = await drive(list.length, (i) => one(list[i]!));
  await provider.shutdown();
  return result;
}

class OneApp implements AppCredentialStore {
  readonly app: Promise<AppCredentials>;
  constructor(app: AppCredentials) {
    this.app = Promise.resolve(app);
  }
  /** One settled promise, as herald's store hands out while its entry is cached (src/apps/credentials.ts). */
  get() {
    return this.app;
  }
  async reportProblem(_appId: string, _channel: AppChannel, _problem: string | undefined) {}
}

type CreateChannel = typeof createApnsChannel;

/** The APNs channel factory of the checkout at `root` (this one, or BENCH_HERALD_BEFORE's). */
async function channelFactory(root: string): Promise<CreateChannel> {
  if (root === ROOT) return createApnsChannel;
  const mod = (await import(path.join(root, 'src/channels/apns/index.ts'))) as { createApnsChannel: CreateChannel };
  return mod.createApnsChannel;
}

async function herald(origin: string, pki: TestPki, list: string[], options: ApnsChannelOptions, create: CreateChannel = createApnsChannel) {
  const credentials = new OneApp({
    id: 'default',
    name: 'Default',
    apns: { bundleId: BUNDLE, environment: 'production', url: origin, teamId: TEAM, keyId: KEY_ID, key: pki.tokenKey },
  });
  const config = loadConfig({ HERALD_DATABASE_URL: 'postgres://unused@127.0.0.1/unused', HERALD_SECRET_KEY: 'x'.repeat(32) });
  const channel: Channel = create({ config, log: createLogger('silent'), metrics: new Registry(), credentials }, { ca: pki.ca, ...options });
  const content = { data: { orderId: 1234 }, apns: { payload: PAYLOAD } };
  // Numeric ids, as PostgreSQL gives deliveries and notifications; one content object for all, as
  // the bare loop sends one body.
  let nextId = 1_000_000;
  const job = (token: string): DeliveryJob => ({
    id: String(nextId++),
    notificationId: String(nextId),
    provider: 'apns',
    appId: 'default',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: undefined,
    device: { id: undefined, platform: 'ios', token },
    content,
  });
  const one = async (token: string) => (await channel.send(job(token))).status === 'sent';
  await one(list[0]!);
  const result = await drive(list.length, (i) => one(list[i]!));
  await channel.close();
  return result;
}

async function endToEnd(origin: string, pki: TestPki, child: ChildProcess, root = ROOT) {
  const { createHarness } = (await import(path.join(root, 'test/helpers/app.ts'))) as typeof import('../test/helpers/app.ts');
  const { startEngine } = (await import(path.join(root, 'test/helpers/engine.ts'))) as typeof import('../test/helpers/engine.ts');
  const create = await channelFactory(root);
  const h = await createHarness({
    HERALD_APNS_KEY_FILE: path.join(pki.dir, 'token.p8'),
    HERALD_APNS_KEY_ID: KEY_ID,
    HERALD_APNS_TEAM_ID: TEAM,
    HERALD_APNS_BUNDLE_ID: BUNDLE,
    HERALD_APNS_URL: origin,
  });
  try {
    await h.db.pool.query(`INSERT INTO users (id) VALUES ('bench')`);
    await h.db.pool.query(
      `INSERT INTO devices (id, user_id, platform, token, environment)
       SELECT 'dev-' || g, 'bench', 'ios', md5(random()::text) || md5(random()::text), 'production' FROM generate_series(1, $1) g`,
      [E2E_DEVICES],
    );
    const deps = { config: h.ctx.config, log: h.ctx.log, metrics: h.ctx.metrics, credentials: h.services.credentials };
    const engine = await startEngine(h, [create(deps, { ca: pki.ca })], { batchSize: 500, concurrency: CONCURRENCY });
    try {
      const before = await ask(child);
      const start = performance.now();
      const cpu = process.cpuUsage();
      const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'bench' }, channels: ['push'], apns: { payload: PAYLOAD } } });
      if (res.statusCode !== 202) throw new Error(`POST /v1/notifications answered ${res.statusCode}: ${res.body}`);
      const fanOutMs = performance.now() - start;
      // Done when no row is pending or being sent: asked through the small index of runnable rows
      // every 50 ms (counting all 100,000 rows that often took a quarter of a core from the
      // PostgreSQL herald shares the machine with), the rows sent counted once at the end.
      const deadline = Date.now() + 600_000;
      for (let open = true; open && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 50));
        const { rows } = await h.db.pool.query<{ open: boolean }>(`SELECT EXISTS (SELECT 1 FROM deliveries WHERE status IN ('pending', 'sending')) AS open`);
        open = rows[0]!.open;
      }
      const elapsed = (performance.now() - start) / 1000;
      const used = process.cpuUsage(cpu);
      const { rows: counted } = await h.db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM deliveries WHERE status = 'sent'`);
      const sent = Number(counted[0]!.n);
      const after = await ask(child);
      // CPU of this process (API, engine and channel; PostgreSQL and the fake not counted) per delivery.
      return { rate: sent / elapsed, sent, fanOutMs, connections: after.sessions - before.sessions, cpuUs: (used.user + used.system) / Math.max(1, sent) };
    } finally {
      await engine.stop();
    }
  } finally {
    await h.close();
  }
}

async function main(): Promise<void> {
  const pki = createTestPki();
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--fake', pki.dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const { origin } = await new Promise<{ origin: string }>((resolve) => child.once('message', (m) => resolve(m as { origin: string })));
    const { SignJWT, importPKCS8 } = await import('jose');
    const jwt = await new SignJWT({ iss: TEAM, iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', kid: KEY_ID })
      .sign(await importPKCS8(pki.tokenKey, 'ES256'));
    const senders: Array<[string, (list: string[]) => Promise<Result>]> = [
      ['bare node:http2 loop (1 connection)', (l) => bareLoop(origin, pki, jwt, l)],
      ['@parse/node-apn 8.1 (Provider)', (l) => nodeApn(origin, pki, l)],
      ['herald APNs channel (default pool)', (l) => herald(origin, pki, l, {})],
      ['herald APNs channel (1 connection)', (l) => herald(origin, pki, l, { maxConnections: 1 })],
    ];
    if (BEFORE) {
      const before = await channelFactory(path.resolve(BEFORE));
      senders.push(['other build (BENCH_HERALD_BEFORE), default', (l) => herald(origin, pki, l, {}, before)]);
    }
    // HERALD_BENCH_APNS_ONLY=herald (a word of the sender's name) runs only some, for profiling.
    const only = process.env.HERALD_BENCH_APNS_ONLY;
    if (only) senders.splice(0, senders.length, ...senders.filter(([name], i) => i < 2 || name.includes(only)));
    const best = new Map<string, Result & { connections: number }>();
    const perRound = new Map<string, Result[]>(senders.map(([name]) => [name, []]));
    // Warm-up: JIT and TLS session caches for everyone alike.
    for (const [, run] of senders) await run(tokens(5_000));
    for (let round = 0; round < ROUNDS; round++) {
      const turn = round % senders.length;
      for (const [name, run] of [...senders.slice(turn), ...senders.slice(0, turn)]) {
        const list = tokens(MESSAGES);
        (globalThis as { gc?: () => void }).gc?.();
        const before = await ask(child);
        const result = await run(list);
        const after = await ask(child);
        const connections = after.sessions - before.sessions;
        perRound.get(name)!.push(result);
        const prev = best.get(name);
        if (!prev || result.rate > prev.rate) best.set(name, { ...result, connections });
      }
    }
    const median = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const bareRounds = perRound.get(senders[0]![0])!;
    /** Median over rounds of (this sender's rate ÷ the bare loop's rate in the same round), and its median rate and CPU. */
    const steady = (name: string) => {
      const rounds = perRound.get(name)!;
      return { ratio: median(rounds.map((r, i) => r.rate / bareRounds[i]!.rate)), rate: median(rounds.map((r) => r.rate)), cpuUs: median(rounds.map((r) => r.cpuUs)) };
    };
    // With another build: alternating rounds (other, this; this, other; ...), the best of each kept.
    type E2E = Awaited<ReturnType<typeof endToEnd>>;
    let e2e: E2E | undefined;
    let e2eBefore: E2E | undefined;
    const better = (a: E2E | undefined, b: E2E) => (a && a.rate >= b.rate ? a : b);
    const e2eRounds = E2E_DEVICES > 0 ? (BEFORE ? E2E_ROUNDS : 1) : 0;
    for (let round = 0; round < e2eRounds; round++) {
      const order = !BEFORE ? [undefined] : round % 2 === 0 ? [BEFORE, undefined] : [undefined, BEFORE];
      for (const other of order) {
        if (other) e2eBefore = better(e2eBefore, await endToEnd(origin, pki, child, path.resolve(other)));
        else e2e = better(e2e, await endToEnd(origin, pki, child));
      }
    }
    const stats = await ask(child);
    const ceiling = best.get(senders[0]![0])!.rate;
    const nodeApnRate = best.get(senders[1]![0])!.rate;
    console.log(`APNs senders: ${MESSAGES} notifications per round, ${CONCURRENCY} in flight, best of ${ROUNDS} rounds`);
    console.log('sender'.padEnd(40), 'notifications/s'.padStart(16), 'vs bare'.padStart(9), 'vs node-apn'.padStart(12), 'connections'.padStart(12), 'failed'.padStart(7), 'CPU µs/notif.'.padStart(14), 'vs bare, median of rounds'.padStart(26));
    for (const [name] of senders) {
      const b = best.get(name)!;
      const m = steady(name);
      console.log(
        name.padEnd(40),
        Math.round(b.rate).toLocaleString('en').padStart(16),
        `${(b.rate / ceiling).toFixed(2)}x`.padStart(9),
        `${(b.rate / nodeApnRate).toFixed(2)}x`.padStart(12),
        String(b.connections).padStart(12),
        String(b.failed).padStart(7),
        b.cpuUs.toFixed(1).padStart(14),
        `${m.ratio.toFixed(2)}x (CPU ${m.cpuUs.toFixed(1)} µs)`.padStart(26),
      );
    }
    console.log(`  per round, vs the bare loop: ${senders.slice(1).map(([name]) => `${name}: ${perRound.get(name)!.map((r, i) => (r.rate / bareRounds[i]!.rate).toFixed(2)).join(' ')}`).join('; ')}`);
    if (e2e) {
      console.log(
        `${'end to end: POST → engine → APNs'.padEnd(40)} ${Math.round(e2e.rate).toLocaleString('en').padStart(16)} ${`${(e2e.rate / ceiling).toFixed(2)}x`.padStart(9)} ${`${(e2e.rate / nodeApnRate).toFixed(2)}x`.padStart(12)} ${String(e2e.connections).padStart(12)} ${String(E2E_DEVICES - e2e.sent).padStart(7)} ${e2e.cpuUs.toFixed(1).padStart(14)}`,
      );
      if (e2eBefore) {
        console.log(
          `${'end to end, other build'.padEnd(40)} ${Math.round(e2eBefore.rate).toLocaleString('en').padStart(16)} ${`${(e2eBefore.rate / ceiling).toFixed(2)}x`.padStart(9)} ${`${(e2eBefore.rate / nodeApnRate).toFixed(2)}x`.padStart(12)} ${String(e2eBefore.connections).padStart(12)} ${String(E2E_DEVICES - e2eBefore.sent).padStart(7)} ${e2eBefore.cpuUs.toFixed(1).padStart(14)}`,
        );
      }
      console.log(`  (${E2E_DEVICES} device deliveries from one POST: fan-out ${e2e.fanOutMs.toFixed(0)} ms, then sending until all recorded sent, best of ${e2eRounds} round(s); CPU: this process with the API and engine in it, PostgreSQL not counted; target >= 0.5x bare loop)`);
    }
    const load = (await import('node:os')).loadavg()[0]!.toFixed(1);
    console.log(`machine load average ${load} on ${(await import('node:os')).availableParallelism()} cores (the fake runs in its own process)`);
    console.log(`targets: herald >= 0.9x bare loop, >= 1.2x node-apn; fake saw ${stats.count} valid requests, ${stats.violations} protocol violations`);
    const summary = (line: Record<string, unknown>) => console.log(`SUMMARY ${JSON.stringify(line)}`);
    const bareName = `bare node:http2 loop, best of ${ROUNDS}`;
    const bareSteady = steady(senders[0]![0]);
    for (const [name, goal] of [['herald APNs channel (default pool)', '≥ 0.9×'], ['herald APNs channel (1 connection)', '≥ 0.9×'], ['other build (BENCH_HERALD_BEFORE), default', '']] as const) {
      if (!perRound.has(name)) continue;
      const m = steady(name);
      summary({ figure: `${name}: notifications/s, median of ${ROUNDS} rounds; ratio: median of the per-round ratios; CPU ${m.cpuUs.toFixed(1)} µs/notif. against ${bareSteady.cpuUs.toFixed(1)} (load ${load})`, value: Math.round(m.rate), baseline: `bare node:http2 loop, median of ${ROUNDS}`, baselineValue: Math.round(bareSteady.rate), ratio: Number(m.ratio.toFixed(2)), goal });
    }
    if (e2e) summary({ figure: `end to end: one POST to ${E2E_DEVICES.toLocaleString('en')} devices, delivered/s (load ${load})`, value: Math.round(e2e.rate), baseline: bareName, baselineValue: Math.round(ceiling), ratio: Number((e2e.rate / ceiling).toFixed(2)), goal: '≥ 0.5×' });
    if (e2eBefore) summary({ figure: `end to end, other build (BENCH_HERALD_BEFORE) (load ${load})`, value: Math.round(e2eBefore.rate), baseline: bareName, baselineValue: Math.round(ceiling), ratio: Number((e2eBefore.rate / ceiling).toFixed(2)), goal: '' });
  } finally {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    pki.cleanup();
  }
}

// ---- the fake, in a child process --------------------------------------------------------
if (process.argv[2] === '--fake') {
  const pki = loadTestPki(process.argv[3]!);
  const fake = await startFakeApns({ pki, auth: 'token', bundleId: BUNDLE, teamId: TEAM, keyId: KEY_ID, record: false });
  process.on('message', (msg: string) => {
    if (msg === 'stats') process.send!({ sessions: fake.sessions, count: fake.count, violations: fake.violations.length });
    if (msg === 'stop') void fake.close().then(() => process.exit(0));
  });
  process.send!({ origin: fake.origin });
} else {
  await main();
}
