import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { startEngine, eventually, type RunningEngine } from './helpers/engine.ts';
import { createHeraldClient, unwrap, HeraldApiError, type HeraldClient, type InboxItem, type EventStream } from '../packages/client/src/index.ts';

/**
 * The typed client (packages/client) against a real herald: the API listening on a port, the
 * worker delivering to the inbox. Retries and reconnects are checked against tiny local servers
 * that misbehave on purpose.
 */
let h: TestHarness;
let engine: RunningEngine;
let address: string;
let admin: HeraldClient;
let me: HeraldClient;
const sentHeaders: Headers[] = [];
const streams: EventStream[] = [];

const tokenFor = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('10m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

before(async () => {
  h = await createHarness();
  address = await h.app.listen({ port: 0, host: '127.0.0.1' });
  engine = await startEngine(h);
  const recording = (input: Request | string | URL, init?: RequestInit) => {
    if (input instanceof Request) sentHeaders.push(new Headers(input.headers));
    return fetch(input, init);
  };
  admin = createHeraldClient({ baseUrl: address, apiKey: h.apiKey, fetch: recording });
  const token = await tokenFor('ada');
  me = createHeraldClient({ baseUrl: `${address}/`, token: () => token });
});
after(async () => {
  for (const s of streams) s.close();
  await Promise.all(streams.map((s) => s.done));
  await engine.stop();
  await h.close();
});

async function sendToAda(title: string): Promise<string> {
  const sent = await unwrap(admin.POST('/v1/notifications', { body: { to: { userId: 'ada' }, title, body: `${title} body`, channels: ['inbox'] } }));
  return sent.id;
}

async function inboxItem(notificationId: string): Promise<InboxItem> {
  return eventually(async () => {
    const page = await unwrap(me.GET('/v1/me/inbox'));
    return page.items.find((i) => i.notificationId === notificationId);
  }, 15_000, `the inbox item of ${notificationId}`);
}

function follow(client: HeraldClient, options: { userId?: string; lastEventId?: string; reconnectDelayMs?: number } = {}) {
  const items: InboxItem[] = [];
  const errors: Array<{ error: unknown; fatal: boolean }> = [];
  let opened = 0;
  const stream = client.inboxStream({ ...options, onItem: (i) => items.push(i), onOpen: () => opened++, onError: (error, fatal) => errors.push({ error, fatal }) });
  streams.push(stream);
  return { stream, items, errors, opened: () => opened };
}

test('creates a user, sends a notification and reads it back typed, through the API key and the user token', async () => {
  const user = await unwrap(admin.PUT('/v1/users/{userId}', { params: { path: { userId: 'ada' } }, body: { email: 'ada@example.com', name: 'Ada' } }));
  assert.equal(user.id, 'ada');
  assert.equal(user.email, 'ada@example.com');
  const id = await sendToAda('Hello');
  const settled = await eventually(async () => {
    const n = await unwrap(admin.GET('/v1/notifications/{notificationId}', { params: { path: { notificationId: id } } }));
    return n.deliveries?.every((d) => d.status === 'sent') && n.deliveries.length > 0 ? n : undefined;
  }, 15_000, 'the notification to be sent');
  assert.equal(settled.title, 'Hello');
  const item = await inboxItem(id);
  assert.equal(item.body, 'Hello body');
  assert.equal(item.readAt, null);
  const read = await unwrap(me.POST('/v1/me/inbox/{itemId}/read', { params: { path: { itemId: item.id } } }));
  assert.ok(read.readAt);
  const page = await unwrap(me.GET('/v1/me/inbox'));
  assert.equal(page.unread, 0);
});

test('every POST carries an Idempotency-Key, and a repeated key replays the first answer', async () => {
  sentHeaders.length = 0;
  await sendToAda('keyed automatically');
  const automatic = sentHeaders.at(-1)?.get('idempotency-key');
  assert.ok(automatic && automatic.length >= 32, `a generated key: ${automatic}`);

  const body = { to: { userId: 'ada' }, title: 'Once', channels: ['inbox' as const] };
  const first = await admin.POST('/v1/notifications', { body, headers: { 'Idempotency-Key': 'order-42' } });
  const again = await admin.POST('/v1/notifications', { body, headers: { 'Idempotency-Key': 'order-42' } });
  assert.equal(sentHeaders.at(-1)?.get('idempotency-key'), 'order-42', "the caller's key is kept");
  assert.equal(again.data?.id, first.data?.id, 'the same notification');
  assert.equal(again.response.headers.get('idempotent-replayed'), 'true');
  await assert.rejects(
    unwrap(admin.POST('/v1/notifications', { body: { ...body, title: 'Other' }, headers: { 'Idempotency-Key': 'order-42' } })),
    (err: unknown) => err instanceof HeraldApiError && err.status === 422 && err.code === 'IDEMPOTENCY_KEY_REUSED',
  );
});

test("errors carry herald's status, code, message and details, typed or thrown", async () => {
  const missing = await admin.GET('/v1/users/{userId}', { params: { path: { userId: 'nobody' } } });
  assert.equal(missing.response.status, 404);
  assert.equal(missing.error?.error.code, 'NOT_FOUND');
  await assert.rejects(unwrap(admin.PUT('/v1/users/{userId}', { params: { path: { userId: 'bad' } }, body: { name: 42 as unknown as string } })), (err: unknown) => {
    assert.ok(err instanceof HeraldApiError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.match(err.message, /body\.name/);
    assert.deepEqual((err.details as Array<{ field: string }>)[0]?.field, 'body.name');
    return true;
  });
  const anonymous = createHeraldClient({ baseUrl: address });
  await assert.rejects(unwrap(anonymous.GET('/v1/me/inbox')), (err: unknown) => err instanceof HeraldApiError && err.status === 401 && err.code === 'UNAUTHENTICATED');
});

/** A server that answers each request with `answer(n, headers)` and records what came. */
async function scripted(answer: (n: number, headers: IncomingHttpHeaders, res: ServerResponse) => void) {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers);
      answer(seen.length, req.headers, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

test('503 and 429 are retried after Retry-After with the same Idempotency-Key, a bounded number of times', async () => {
  const flaky = await scripted((n, _headers, res) =>
    n === 1 ? json(res, 503, { error: { code: 'NOT_READY', message: 'Not ready.' } }, { 'retry-after': '1' }) : json(res, 202, { id: 'n-1' }),
  );
  try {
    const client = createHeraldClient({ baseUrl: flaky.url, apiKey: 'hk_test' });
    const started = Date.now();
    const sent = await unwrap(client.POST('/v1/notifications', { body: { to: { userId: 'ada' }, title: 'x' } }));
    assert.equal(sent.id, 'n-1');
    assert.equal(flaky.seen.length, 2, 'one retry');
    assert.ok(Date.now() - started >= 900, 'it waited the second Retry-After asked for');
    assert.ok(flaky.seen[0]!['idempotency-key']);
    assert.equal(flaky.seen[1]!['idempotency-key'], flaky.seen[0]!['idempotency-key'], 'the retry is the same request');
    assert.equal(flaky.seen[1]!.authorization, 'Bearer hk_test');
  } finally {
    await flaky.close();
  }

  const limited = await scripted((_n, _headers, res) => json(res, 429, { error: { code: 'RATE_LIMITED', message: 'Too many requests.' } }, { 'retry-after': '0' }));
  try {
    const client = createHeraldClient({ baseUrl: limited.url, apiKey: 'hk_test', retry: { attempts: 3 } });
    await assert.rejects(unwrap(client.GET('/v1/users/{userId}', { params: { path: { userId: 'ada' } } })), (err: unknown) => err instanceof HeraldApiError && err.status === 429 && err.code === 'RATE_LIMITED' && err.retryAfterSeconds === 0);
    assert.equal(limited.seen.length, 3, 'three attempts, then the answer');
    limited.seen.length = 0;
    await createHeraldClient({ baseUrl: limited.url, retry: false }).GET('/v1/me/inbox');
    assert.equal(limited.seen.length, 1, 'retry: false sends once');
  } finally {
    await limited.close();
  }

  const later = await scripted((_n, _headers, res) => json(res, 503, { error: { code: 'NOT_READY', message: 'Not ready.' } }, { 'retry-after': '120' }));
  try {
    const client = createHeraldClient({ baseUrl: later.url, retry: { maxDelayMs: 5_000 } });
    const res = await client.GET('/v1/me/inbox');
    assert.equal(res.response.status, 503);
    assert.equal(later.seen.length, 1, 'a wait longer than maxDelayMs is left to the caller');
  } finally {
    await later.close();
  }
});

test('the inbox stream delivers new items live, to a user token (/v1/me) and to an API key (/v1/users/{userId})', async () => {
  // Resume after an item that exists: whatever arrives while the stream connects is replayed.
  const known = await inboxItem(await sendToAda('before the stream'));
  const mine = follow(me, { lastEventId: known.id });
  const theirs = follow(admin, { userId: 'ada', lastEventId: known.id });
  await eventually(async () => mine.opened() > 0 && theirs.opened() > 0, 10_000, 'both streams to open');
  const id = await sendToAda('Live');
  const got = await eventually(async () => mine.items.find((i) => i.notificationId === id), 15_000, 'the item on the user stream');
  assert.equal(got.title, 'Live');
  assert.equal(got.readAt, null);
  await eventually(async () => theirs.items.find((i) => i.notificationId === id), 15_000, 'the item on the admin stream');
  assert.equal(mine.stream.lastEventId, got.id);
  assert.deepEqual(mine.errors, []);
});

test('a stream resumes after the last item it saw, and stops for good when the credentials are refused', async () => {
  const known = await inboxItem(await sendToAda('seen'));
  const first = follow(me, { lastEventId: known.id });
  await eventually(async () => first.opened() > 0, 10_000, 'the stream to open');
  first.stream.close();
  await first.stream.done;
  const missed = await inboxItem(await sendToAda('Missed while away'));
  const second = follow(me, { lastEventId: first.stream.lastEventId });
  const replayed = await eventually(async () => second.items.find((i) => i.id === missed.id), 15_000, 'the missed item');
  assert.equal(replayed.title, 'Missed while away');

  const refused = follow(createHeraldClient({ baseUrl: address, token: 'not.a.jwt' }));
  await refused.stream.done;
  assert.equal(refused.errors.length, 1);
  assert.equal(refused.errors[0]!.fatal, true);
  assert.ok(refused.errors[0]!.error instanceof HeraldApiError && refused.errors[0]!.error.code === 'UNAUTHENTICATED');
});

test('a stream reconnects after a 503 and after the server ends it, sending Last-Event-ID', async () => {
  const item = (id: string) => JSON.stringify({ id, notificationId: null, title: id, body: null, data: {}, url: null, readAt: null, createdAt: new Date().toISOString() });
  const sse = await scripted((n, _headers, res) => {
    if (n === 1) return json(res, 503, { error: { code: 'NOT_READY', message: 'Not ready.' } }, { 'retry-after': '0' });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (n === 2) return res.end(`retry: 20\n: connected\n\nid: a1\nevent: inbox\ndata: ${item('a1')}\n\n`);
    res.write(`id: a2\nevent: inbox\ndata: ${item('a2')}\n\n`);
  });
  try {
    const s = follow(createHeraldClient({ baseUrl: sse.url, token: 'x.y.z' }), { reconnectDelayMs: 50 });
    await eventually(async () => s.items.length >= 2, 10_000, 'both items');
    assert.deepEqual(s.items.map((i) => i.id), ['a1', 'a2']);
    assert.equal(sse.seen[1]!['last-event-id'], undefined, 'the first stream starts fresh');
    assert.equal(sse.seen[2]!['last-event-id'], 'a1', 'the reconnect resumes after a1');
    assert.equal(sse.seen[2]!.authorization, 'Bearer x.y.z');
    assert.equal(s.errors.length, 1, 'the 503 was reported');
    assert.equal(s.errors[0]!.fatal, false);
    s.stream.close();
    await s.stream.done;
  } finally {
    await sse.close();
  }
});
