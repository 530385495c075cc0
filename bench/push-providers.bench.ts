/**
 * Push senders per second, same fakes, same run:
 *
 * - FCM: herald's channel (pooled HTTP/2, cached OAuth token) vs firebase-admin's `sendEach`
 *   (batches of 500, its own HTTP/2 session per call) vs a bare node:http2 loop on one connection
 *   (the ceiling). firebase-admin hard-codes fcm.googleapis.com, so this process redirects its
 *   `http2.connect` to the fake; its request, batching and session code runs unchanged.
 * - Web Push: herald's channel (node:crypto aes128gcm, cached VAPID JWT, undici keep-alive pool)
 *   vs the `web-push` package's sendNotification with a keep-alive agent. Both encrypt every
 *   message; the fake push service decrypts and verifies every one.
 *
 * The fakes run in a child process so they do not share the sender's event loop.
 *
 *   npm run bench -- push-providers
 */
import http2 from 'node:http2';
import https from 'node:https';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import webpush from 'web-push';
import { deleteApp, initializeApp } from 'firebase-admin/app';
import { getMessaging, type Message } from 'firebase-admin/messaging';
import { createLogger } from '../src/log/index.ts';
import type { AppChannel, AppCredentials, AppCredentialStore, FcmServiceAccount } from '../src/apps/types.ts';
import type { DeliveryJob, WebPushSubscription } from '../src/channels/types.ts';
import { FcmChannel } from '../src/channels/fcm/index.ts';
import { AccessTokenSource } from '../src/channels/fcm/oauth.ts';
import { WebPushChannel, generateVapidKeys } from '../src/channels/webpush/index.ts';
import { OutboundPolicy } from '../src/outbound/index.ts';

const FCM_MESSAGES = Number(process.env.HERALD_BENCH_FCM_MESSAGES ?? 10_000);
const WEBPUSH_MESSAGES = Number(process.env.HERALD_BENCH_WEBPUSH_MESSAGES ?? 2_000);
const ROUNDS = Number(process.env.HERALD_BENCH_ROUNDS ?? 3);
const FCM_CONCURRENCY = 1000;
const WEBPUSH_CONCURRENCY = 100;

interface FakeInfo {
  readonly fcmUrl: string;
  readonly ca: string;
  readonly webpushCa: string;
  readonly account: FcmServiceAccount;
  readonly subscriptions: WebPushSubscription[];
}

async function runPool(total: number, concurrency: number, task: (i: number) => Promise<boolean>): Promise<{ perSecond: number; failures: number }> {
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, async () => {
    while (next < total) {
      const i = next++;
      if (!(await task(i))) failures++;
    }
  }));
  return { perSecond: total / ((performance.now() - started) / 1000), failures };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const info = JSON.parse(line) as FakeInfo;
  const vapid = generateVapidKeys();
  const apps = new Map<string, AppCredentials>([['default', {
    id: 'default', name: 'bench',
    fcm: { serviceAccount: info.account, url: info.fcmUrl },
    webpush: { vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey, subject: 'mailto:bench@herald.example' },
  }]]);
  const store: AppCredentialStore = {
    get: async (id) => apps.get(id),
    reportProblem: async (_id: string, _c: AppChannel, problem: string | undefined) => {
      if (problem) throw new Error(problem);
    },
  };
  const log = createLogger('silent');
  const job = (i: number, device: DeliveryJob['device'], provider: 'fcm' | 'webpush'): DeliveryJob => ({
    id: `d${i}`, notificationId: `n${i}`, provider, appId: 'default', attempt: 1, dueAt: new Date(), expiresAt: undefined,
    user: { id: `u${i}` }, device,
    content: { title: 'Stand-up', body: `Reminder ${i}: the meeting starts in 10 minutes`, data: { reminderId: `r${i}`, n: i }, collapseId: 'standup', ttlSeconds: 3600 },
  });

  type Run = { perSecond: number; failures: number };
  /** Senders take turns, ROUNDS times, and the median counts: the machine is shared and noisy. */
  const rounds = async (senders: Record<string, () => Promise<Run>>): Promise<Record<string, Run>> => {
    const runs: Record<string, Run[]> = Object.fromEntries(Object.keys(senders).map((k) => [k, []]));
    for (let r = 0; r < ROUNDS; r++) for (const [name, run] of Object.entries(senders)) runs[name]!.push(await run());
    return Object.fromEntries(Object.entries(runs).map(([name, list]) => {
      const sorted = [...list].sort((a, b) => a.perSecond - b.perSecond);
      return [name, { perSecond: sorted[Math.floor(sorted.length / 2)]!.perSecond, failures: list.reduce((n, x) => n + x.failures, 0) }];
    }));
  };

  // --- FCM senders
  const tokens = new AccessTokenSource(info.account, new Agent({ connect: { ca: info.ca } }));
  const accessToken = await tokens.get();
  const path = `/v1/projects/${info.account.project_id}/messages:send`;
  const bareBody = (i: number) => JSON.stringify({ message: {
    token: `tok-${i}`, notification: { title: 'Stand-up', body: `Reminder ${i}: the meeting starts in 10 minutes` },
    data: { reminderId: `r${i}`, n: String(i) }, android: { priority: 'high', ttl: '3600s', collapse_key: 'standup' },
  } });
  const bareLoop = async (): Promise<Run> => {
    const session = http2.connect(info.fcmUrl, { ca: info.ca });
    const run = await runPool(FCM_MESSAGES, FCM_CONCURRENCY, (i) => new Promise((resolve) => {
      const stream = session.request({ ':method': 'POST', ':path': path, authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' });
      let status = 0;
      stream.on('response', (h) => { status = Number(h[':status']); });
      stream.resume();
      stream.on('end', () => resolve(status === 200));
      stream.on('error', () => resolve(false));
      stream.end(bareBody(i));
    }));
    session.close();
    return run;
  };

  const fcm = new FcmChannel({ credentials: store, log }, { ca: info.ca });
  await fcm.send(job(0, { id: 'w', platform: 'android', token: 'warm-up' }, 'fcm'));
  const heraldFcm = () => runPool(FCM_MESSAGES, FCM_CONCURRENCY, async (i) =>
    (await fcm.send(job(i, { id: `dev${i}`, platform: 'android', token: `tok-${i}` }, 'fcm'))).status === 'sent');

  // firebase-admin hard-codes fcm.googleapis.com: redirect its http2.connect to the fake.
  const realConnect = http2.connect;
  const redirect = ((authority: string | URL, options?: http2.SecureClientSessionOptions, listener?: () => void) => {
    if (!String(authority).includes('fcm.googleapis.com')) return realConnect(authority, options ?? {}, listener);
    const session = realConnect(info.fcmUrl, { ...options, ca: info.ca }, listener);
    // firebase-admin sends `:scheme: "https:"` (its URL's protocol, colon included); Google's
    // front end tolerates it, Node's nghttp2 server resets the stream, so only that is corrected.
    const request = session.request.bind(session);
    session.request = ((headers: http2.OutgoingHttpHeaders, opts?: http2.ClientSessionRequestOptions) =>
      request({ ...headers, ':scheme': 'https' }, opts)) as typeof session.request;
    return session;
  }) as unknown as typeof http2.connect;
  (http2 as { connect: typeof http2.connect }).connect = redirect;
  const admin = initializeApp({
    projectId: info.account.project_id,
    credential: { getAccessToken: async () => ({ access_token: await tokens.get(), expires_in: 3600 }) },
  }, 'bench');
  const messaging = getMessaging(admin);
  const adminMessage = (i: number): Message => ({
    token: `tok-${i}`, notification: { title: 'Stand-up', body: `Reminder ${i}: the meeting starts in 10 minutes` },
    data: { reminderId: `r${i}`, n: String(i) }, android: { priority: 'high', ttl: 3_600_000, collapseKey: 'standup' },
  });
  const firebaseAdmin = async (): Promise<Run> => {
    let failures = 0;
    // sendEach takes at most 500 messages; two calls in flight = the same 1,000 in flight as the others.
    const run = await runPool(Math.ceil(FCM_MESSAGES / 500), FCM_CONCURRENCY / 500, async (b) => {
      const batch = Array.from({ length: Math.min(500, FCM_MESSAGES - b * 500) }, (_, k) => adminMessage(b * 500 + k));
      failures += (await messaging.sendEach(batch)).failureCount;
      return true;
    });
    return { perSecond: run.perSecond * 500, failures };
  };

  console.log(`FCM: ${fmt(FCM_MESSAGES)} messages per run to the fake FCM (separate process), ${FCM_CONCURRENCY} in flight, median of ${ROUNDS} interleaved runs`);
  const f = await rounds({ bare: bareLoop, admin: firebaseAdmin, herald: heraldFcm });
  await fcm.close();
  await deleteApp(admin);
  (http2 as { connect: typeof http2.connect }).connect = realConnect;
  console.log(`  bare node:http2 loop, 1 connection   ${fmt(f.bare!.perSecond).padStart(8)} msg/s  (failures ${f.bare!.failures})`);
  console.log(`  firebase-admin sendEach (500/call)   ${fmt(f.admin!.perSecond).padStart(8)} msg/s  (failures ${f.admin!.failures})`);
  console.log(`  herald FCM channel                   ${fmt(f.herald!.perSecond).padStart(8)} msg/s  (failures ${f.herald!.failures})`);
  console.log(`  herald / firebase-admin = ${(f.herald!.perSecond / f.admin!.perSecond).toFixed(2)}x   herald / bare loop = ${(f.herald!.perSecond / f.bare!.perSecond).toFixed(2)}x`);

  // --- Web Push senders
  const subs = info.subscriptions;
  // The fake push service listens on loopback: allowed as an operator would (HERALD_OUTBOUND_ALLOW).
  const wp = new WebPushChannel({ credentials: store, log, outbound: new OutboundPolicy(['localhost', '127.0.0.0/8']) }, { ca: info.webpushCa });
  const webDevice = (i: number) => ({ id: `w${i}`, platform: 'web' as const, token: subs[i % subs.length]!.endpoint, subscription: subs[i % subs.length]! });
  await wp.send(job(0, webDevice(0), 'webpush'));
  const heraldWp = () => runPool(WEBPUSH_MESSAGES, WEBPUSH_CONCURRENCY, async (i) => (await wp.send(job(i, webDevice(i), 'webpush'))).status === 'sent');

  const agent = new https.Agent({ ca: info.webpushCa, keepAlive: true, maxSockets: 16 });
  const vapidDetails = { subject: 'mailto:bench@herald.example', publicKey: vapid.publicKey, privateKey: vapid.privateKey };
  const payload = (i: number) => JSON.stringify({ title: 'Stand-up', body: `Reminder ${i}: the meeting starts in 10 minutes`, data: { reminderId: `r${i}`, n: i }, tag: 'standup', notificationId: `n${i}` });
  const webPushLib = () => runPool(WEBPUSH_MESSAGES, WEBPUSH_CONCURRENCY, async (i) => {
    try {
      const r = await webpush.sendNotification(subs[i % subs.length]!, payload(i), { vapidDetails, TTL: 3600, topic: 'standup', agent });
      return r.statusCode === 201;
    } catch {
      return false;
    }
  });

  console.log(`\nWeb Push: ${fmt(WEBPUSH_MESSAGES)} encrypted messages per run to the fake push service (decrypts each), ${WEBPUSH_CONCURRENCY} in flight, median of ${ROUNDS} interleaved runs`);
  const w = await rounds({ lib: webPushLib, herald: heraldWp });
  await wp.close();
  agent.destroy();
  console.log(`  web-push sendNotification (keep-alive agent) ${fmt(w.lib!.perSecond).padStart(7)} msg/s  (failures ${w.lib!.failures})`);
  console.log(`  herald Web Push channel                      ${fmt(w.herald!.perSecond).padStart(7)} msg/s  (failures ${w.herald!.failures})`);
  console.log(`  herald / web-push = ${(w.herald!.perSecond / w.lib!.perSecond).toFixed(2)}x`);

  child.stdin!.end();
  await new Promise((resolve) => child.on('exit', resolve));
}

async function serve(): Promise<void> {
  // Child: run both fakes and print what the senders need.
  const { FakeFcmServer } = await import('../test/fakes/fcm-server.ts');
  const { FakeWebPushServer } = await import('../test/fakes/webpush-server.ts');
  const fcm = await new FakeFcmServer().start();
  const wp = await new FakeWebPushServer().start();
  const subscriptions = Array.from({ length: 200 }, () => {
    const { endpoint, keys } = wp.subscribe();
    return { endpoint, keys };
  });
  const info: FakeInfo = { fcmUrl: fcm.url, ca: fcm.certificate.ca, webpushCa: wp.certificate.ca, account: fcm.account, subscriptions };
  process.stdout.write(`${JSON.stringify(info)}\n`);
  // Keep nothing of the received messages: the run sends tens of thousands.
  setInterval(() => {
    fcm.received.length = 0;
    wp.received.length = 0;
  }, 500);
  process.stdin.resume();
  process.stdin.on('end', () => void Promise.all([fcm.close(), wp.close()]).then(() => process.exit(0)));
}

if (process.argv[2] === 'serve') await serve();
else await main();
