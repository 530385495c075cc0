import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { freePort } from './helpers/herald-process.ts';
import type { App } from '../src/api/app.ts';
import { createPool } from '../src/db/pool.ts';
import { ConfigError, loadConfig } from '../src/config/index.ts';

/**
 * Threat: the HTTP edge pushed where it answers 500, hangs, or believes what it should not:
 * bytes PostgreSQL cannot store, bodies nested to blow the stack, a database outage, clients
 * that send a byte every few seconds or open every socket, script URLs in notifications,
 * forged X-Forwarded-For. Defences: a checking JSON parser, 503 with Retry-After for outages,
 * server timeouts and a connection cap, http(s)-only links, security headers, and proxies
 * trusted only when configured.
 */
let h: TestHarness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h.close();
});

const inHours = (n: number) => new Date(Date.now() + n * 3_600_000).toISOString();

test('a NUL character anywhere in a body (title, data values, data keys, nested) is refused with 400 naming the field, and nothing is stored', async () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['/v1/notifications', { to: { userId: 'nul' }, title: 'a\u0000b', channels: ['inbox'] }, 'body.title'],
    ['/v1/notifications', { to: { userId: 'nul' }, title: 't', data: { deep: { list: ['ok', 'x\u0000'] } }, channels: ['inbox'] }, 'body.data.deep.list[1]'],
    ['/v1/notifications', { to: { userId: 'nul' }, title: 't', data: { 'k\u0000': 1 }, channels: ['inbox'] }, 'body.data.k\\u0000'],
    ['/v1/users/nul/reminders', { date: inHours(2), message: 'm', title: '\u0000' }, 'body.title'],
    // A lone surrogate has no UTF-8 form: PostgreSQL refuses it just like NUL.
    ['/v1/notifications', { to: { userId: 'nul' }, title: 'a\ud800', channels: ['inbox'] }, 'body.title'],
    ['/v1/notifications', { to: { userId: 'nul' }, title: 't', data: { list: ['ok', '\udfff x'] }, channels: ['inbox'] }, 'body.data.list[1]'],
    ['/v1/users/nul/reminders', { date: inHours(2), message: '\udc00' }, 'body.message'],
  ];
  for (const [url, payload, field] of cases) {
    const res = await h.request({ method: 'POST', url, payload });
    assert.equal(res.statusCode, 400, `${field}: ${res.body}`);
    assert.equal(res.json().error.code, 'VALIDATION_FAILED');
    assert.equal(res.json().error.details[0].field, field);
  }
  assert.equal((await h.db.pool.query(`SELECT 1 FROM notifications WHERE 'nul' = ANY (user_ids)`)).rowCount, 0);
  assert.equal((await h.db.pool.query(`SELECT 1 FROM reminders WHERE user_id = 'nul'`)).rowCount, 0);
});

test('a surrogate pair written as escapes (an emoji) is text like any other and is stored', async () => {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', headers: { 'content-type': 'application/json' }, payload: '{"to":{"userId":"pair"},"title":"hi \\ud83d\\ude00","channels":["inbox"]}' });
  assert.equal(res.statusCode, 202, res.body);
  const { rows } = await h.db.pool.query<{ title: string }>(`SELECT payload->>'title' AS title FROM notifications WHERE id = $1`, [res.json().id]);
  assert.equal(rows[0]!.title, 'hi \u{1F600}');
});

test('JSON nested 10,000 deep is refused with 400 before it is parsed; ordinary nesting is accepted', async () => {
  for (const [open, close] of [['[', ']'], ['{"a":', '}']] as const) {
    const payload = `{"to":{"userId":"deep"},"title":"t","channels":["inbox"],"data":{"x":${open.repeat(10_000)}1${close.repeat(10_000)}}}`;
    const res = await h.request({ method: 'POST', url: '/v1/notifications', headers: { 'content-type': 'application/json' }, payload });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error.code, 'VALIDATION_FAILED');
    assert.match(res.json().error.message, /nested deeper than 64/);
  }
  // Brackets inside strings are text, not nesting.
  const ok = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'deep' }, title: '['.repeat(500), channels: ['inbox'], data: { a: { b: { c: [[[1]]] } } } } });
  assert.equal(ok.statusCode, 202, ok.body);
});

test('a database outage answers 503 UNAVAILABLE with Retry-After, not 500', async () => {
  // Nothing listens on this port: every connection is refused.
  const down = createPool(`postgres://postgres@127.0.0.1:${await freePort()}/herald`, 2);
  const outage = await createHarness({}, { poolSize: 2, pool: down });
  const app = outage.app;
  try {
    for (const url of ['/v1/users/u1', '/v1/users/u1/reminders']) {
      const res = await app.inject({ url, headers: { authorization: 'Bearer hk_some_key_that_needs_the_database' } });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().error.code, 'UNAVAILABLE');
      assert.match(String(res.headers['retry-after']), /^\d+$/);
    }
  } finally {
    await outage.close();
    await down.end();
  }
  // A database that goes away under a running herald: its connections are terminated.
  const h2 = await createHarness();
  try {
    assert.equal((await h2.request({ url: '/v1/users/u2/reminders' })).statusCode, 200);
    await h2.db.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    await h2.db.pool.query(`SELECT pg_terminate_backend(pg_backend_pid())`).catch(() => undefined);
    const admin = createPool(process.env.HERALD_TEST_DATABASE_URL!, 1);
    await admin.query(`ALTER DATABASE ${h2.db.name} ALLOW_CONNECTIONS false`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [h2.db.name]);
    try {
      const res = await h2.request({ url: '/v1/users/u2/reminders' });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().error.code, 'UNAVAILABLE');
      assert.ok(res.headers['retry-after']);
    } finally {
      await admin.query(`ALTER DATABASE ${h2.db.name} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
  } finally {
    await h2.close();
  }
});

/** A listening app with the given HERALD_* limits. */
async function listening(env: Record<string, string>): Promise<{ app: App; port: number; apiKey: string; close(): Promise<void> }> {
  const server = await createHarness(env, { poolSize: 2 });
  const app = server.app;
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  return { app, port, apiKey: server.apiKey, close: () => server.close() };
}

/** Resolves with what the server sent when it closes the socket, or 'open' if it is still open after `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<string | 'open'> {
  return new Promise((resolve) => {
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const timer = setTimeout(() => resolve('open'), ms);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.on('error', () => undefined);
  });
}

test('a body trickled one byte at a time, or headers trickled, is cut off at the request timeout instead of holding the connection', async () => {
  const server = await listening({ HERALD_HTTP_REQUEST_TIMEOUT_MS: '1000', HERALD_HTTP_HEADERS_TIMEOUT_MS: '600' });
  const sockets: Socket[] = [];
  const trickles: NodeJS.Timeout[] = [];
  try {
    const slowBody = connect(server.port, '127.0.0.1');
    sockets.push(slowBody);
    slowBody.write(`POST /v1/notifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`);
    trickles.push(setInterval(() => slowBody.write('{'), 200));
    const slowHeaders = connect(server.port, '127.0.0.1');
    sockets.push(slowHeaders);
    slowHeaders.write('GET /healthz HTTP/1.1\r\n');
    trickles.push(setInterval(() => slowHeaders.write('X-a: b\r\n'), 200));
    const [body, headers] = await Promise.all([closedWithin(slowBody, 8_000), closedWithin(slowHeaders, 8_000)]);
    assert.notEqual(body, 'open', 'the trickled body is cut off');
    assert.notEqual(headers, 'open', 'the trickled headers are cut off');
    assert.match(body, /^HTTP\/1\.1 408/);
    assert.match(body, /"code":"REQUEST_TIMEOUT"/);
  } finally {
    trickles.forEach(clearInterval);
    sockets.forEach((s) => s.destroy());
    await server.close();
  }
});

test('connections beyond HERALD_HTTP_MAX_CONNECTIONS are refused while the first ones are served', async () => {
  const server = await listening({ HERALD_HTTP_MAX_CONNECTIONS: '2' });
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const s = connect(server.port, '127.0.0.1');
      sockets.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    await new Promise((r) => setTimeout(r, 100));
    const third = connect(server.port, '127.0.0.1');
    sockets.push(third);
    third.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(await closedWithin(third, 5_000), '', 'the third connection is closed unanswered');
    sockets[0]!.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(await closedWithin(sockets[0]!, 5_000), /^HTTP\/1\.1 200/);
  } finally {
    sockets.forEach((s) => s.destroy());
    await server.close();
  }
});

test('javascript: and other non-http(s) links are refused in reminders and notifications with 400 naming the field', async () => {
  for (const url of ['javascript:alert(document.cookie)', 'JavaScript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', '//evil.example.com/x', 'ftp://example.com/f']) {
    const r = await h.request({ method: 'POST', url: '/v1/users/links/reminders', payload: { date: inHours(2), message: 'm', url } });
    assert.equal(r.statusCode, 400, `${url}: ${r.body}`);
    assert.equal(r.json().error.details[0].field, 'body.url');
    const n = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'links' }, title: 't', url, channels: ['inbox'] } });
    assert.equal(n.statusCode, 400, `${url}: ${n.body}`);
    assert.equal(n.json().error.details[0].field, 'body.url');
    const i = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId: 'links' }, title: 't', image: url, channels: ['inbox'] } });
    assert.equal(i.statusCode, 400, `${url}: ${i.body}`);
  }
  const ok = await h.request({ method: 'POST', url: '/v1/users/links/reminders', payload: { date: inHours(2), message: 'm', url: 'https://example.com/ok' } });
  assert.equal(ok.statusCode, 201, ok.body);
  assert.equal((await h.db.pool.query(`SELECT 1 FROM reminders WHERE user_id = 'links'`)).rowCount, 1);
});

test('every response carries security headers (helmet), and the API documentation still loads', async () => {
  const res = await h.request({ url: '/v1/users/headers' });
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.ok(res.headers['strict-transport-security']);
  assert.ok(res.headers['content-security-policy']);
  assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
  const docs = await h.app.inject({ url: '/docs/' });
  assert.ok(docs.statusCode < 400, `/docs: ${docs.statusCode}`);
  assert.ok(docs.headers['content-security-policy']);
});

/** The client address herald sees for a request from `remoteAddress` carrying X-Forwarded-For. */
async function seenAddress(env: Record<string, string>, remoteAddress: string): Promise<string> {
  const server = await createHarness(env, {
    poolSize: 1,
    routes: (app) => app.get('/test/whoami', { config: { auth: 'public' }, schema: { hide: true } }, async (request) => ({ ip: request.ip })),
  });
  const app = server.app;
  try {
    const res = await app.inject({ url: '/test/whoami', remoteAddress, headers: { 'x-forwarded-for': '6.6.6.6, 10.1.2.3' } });
    return res.json().ip as string;
  } finally {
    await server.close();
  }
}

test('X-Forwarded-For is ignored unless HERALD_TRUST_PROXY names the proxy (by hop count or address)', async () => {
  assert.equal(await seenAddress({}, '127.0.0.1'), '127.0.0.1', 'by default no proxy is trusted: a client cannot choose its address');
  assert.equal(await seenAddress({ HERALD_TRUST_PROXY: '1' }, '127.0.0.1'), '10.1.2.3', 'one hop: the address the nearest proxy saw');
  assert.equal(await seenAddress({ HERALD_TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }, '127.0.0.1'), '6.6.6.6', 'every trusted hop is skipped');
  assert.equal(await seenAddress({ HERALD_TRUST_PROXY: '10.0.0.0/8' }, '192.0.2.7'), '192.0.2.7', 'a peer that is not a configured proxy is the client');
  assert.throws(() => loadConfig({ HERALD_TRUST_PROXY: 'everyone' }), (err: unknown) => err instanceof ConfigError && /HERALD_TRUST_PROXY/.test(err.message));
  assert.throws(() => loadConfig({ HERALD_TRUST_PROXY: '10.0.0.0/33' }), ConfigError);
});
