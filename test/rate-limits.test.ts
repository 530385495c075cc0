import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { asUser } from './helpers/user-token.ts';
import { createApiKey } from '../src/auth/api-keys.ts';
import { RateLimiter } from '../src/limits/index.ts';

/** Rate limits per key, per end user and per client address for failed authentication (docs/security.md § Rate limits). */
let h: TestHarness;
before(async () => {
  h = await createHarness({
    HERALD_RATE_LIMIT_PER_KEY: '5',
    HERALD_RATE_LIMIT_PER_USER: '3',
    HERALD_RATE_LIMIT_AUTH_FAILURES: '5',
    HERALD_RATE_LIMIT_WINDOW_SECONDS: '3600',
  });
});
after(async () => h.close());

/**
 * Count the queries the API's pool runs while `fn` runs (authentication and rate limits use
 * `pool.query`; a transaction's statements, which run on a checked-out client, are not counted).
 */
async function countQueries(fn: () => Promise<void>): Promise<number> {
  const pool = h.db.pool;
  const query = pool.query;
  let n = 0;
  pool.query = ((...args: Parameters<typeof query>) => {
    n++;
    return (query as (...a: unknown[]) => unknown).apply(pool, args);
  }) as typeof query;
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 300)); // the failure counts sent in the background
  } finally {
    pool.query = query;
  }
  return n;
}

test('a key over its limit gets 429 RATE_LIMITED with Retry-After and RateLimit-* headers; another key is not affected', async () => {
  const { key } = await createApiKey(h.db.pool, 'burst');
  const { key: other } = await createApiKey(h.db.pool, 'calm');
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < 7; i++) {
    last = await h.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: `Bearer ${key}` } });
    statuses.push(last.statusCode);
    if (i === 0) {
      assert.equal(last.headers['ratelimit-limit'], '5');
      assert.equal(last.headers['ratelimit-remaining'], '4');
      assert.ok(Number(last.headers['ratelimit-reset']) > 0);
    }
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
  assert.equal(last!.json().error.code, 'RATE_LIMITED');
  const retry = Number(last!.headers['retry-after']);
  assert.ok(retry >= 1 && retry <= 3600, `Retry-After ${retry}`);
  assert.equal(last!.headers['ratelimit-remaining'], '0');
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: `Bearer ${other}` } })).statusCode, 200);
});

test('an end user over their limit gets 429; other users are not affected', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await h.app.inject({ method: 'GET', url: '/v1/me/inbox', headers: await asUser('chatty') })).statusCode);
  assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/me/inbox', headers: await asUser('quiet') })).statusCode, 200);
});

test('the same wrong key 1,000 times costs at most a few database queries (failed look-ups are cached)', async (t) => {
  const n = await countQueries(async () => {
    for (let i = 0; i < 1000; i++) {
      const res = await h.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: 'Bearer hk_wrong-but-repeated' }, remoteAddress: `10.1.${i % 250}.${Math.floor(i / 250)}` });
      assert.equal(res.statusCode, res.statusCode === 429 ? 429 : 401);
    }
  });
  // One look-up; the failure counts of all 1,000 addresses go to the database together, a few times a second.
  assert.ok(n <= 20, `queries: ${n}`);
  t.diagnostic(`1,000 attempts of one wrong key from 1,000 addresses: ${n} queries`);
  const single = await countQueries(async () => {
    for (let i = 0; i < 1000; i++) {
      await h.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: 'Bearer hk_wrong-from-many' }, remoteAddress: '10.9.9.9' });
    }
  });
  assert.ok(single <= 8, `queries for 1,000 attempts of one key from one address: ${single}`);
  t.diagnostic(`1,000 attempts of one wrong key from one address: ${single} queries`);
});

test('1,000 different wrong keys from one address: 401 until its failure limit, then 429 without reaching the database', async (t) => {
  const statuses: number[] = [];
  let last;
  const n = await countQueries(async () => {
    for (let i = 0; i < 1000; i++) {
      last = await h.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: `Bearer hk_guess-${i}` }, remoteAddress: '192.0.2.7' });
      statuses.push(last.statusCode);
    }
  });
  assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
  assert.ok(statuses.slice(5).every((s) => s === 429), 'refused once over the limit');
  assert.ok(Number(last!.headers['retry-after']) >= 1);
  // 5 look-ups (each key is new) and one or two sends of the failure count: then nothing.
  assert.ok(n <= 8, `queries: ${n}`);
  t.diagnostic(`1,000 different wrong keys from one address: ${n} queries`);
  // A valid key from the same address is refused too while the address is blocked...
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: `Bearer ${(await createApiKey(h.db.pool, 'x')).key}` }, remoteAddress: '192.0.2.7' })).statusCode, 429);
  // ...and another address is not.
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: `Bearer ${(await createApiKey(h.db.pool, 'y')).key}` }, remoteAddress: '192.0.2.8' })).statusCode, 200);
});

test('hits arriving together are counted exactly, in one query per round trip', async () => {
  const limiter = new RateLimiter(h.db.pool);
  const rule = { limit: 40, windowSeconds: 3600 };
  let decisions: Awaited<ReturnType<RateLimiter['hit']>>[] = [];
  const n = await countQueries(async () => {
    decisions = await Promise.all(Array.from({ length: 100 }, () => limiter.hit('together', rule)));
  });
  assert.equal(decisions.filter((d) => d.allowed).length, 40);
  assert.deepEqual(decisions.slice(0, 40).map((d) => d.remaining), Array.from({ length: 40 }, (_, i) => 39 - i));
  assert.ok(n <= 3, `queries: ${n}`);
  const { rows } = await h.db.pool.query<{ count: number }>(`SELECT count FROM rate_limits WHERE bucket = 'together'`);
  assert.equal(rows[0]!.count, 100);
});
