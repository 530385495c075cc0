import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { testContext } from './helpers/app.ts';
import { freePort } from './helpers/herald-process.ts';
import { buildServices, type Services } from '../src/runtime/services.ts';
import { apiRole } from '../src/runtime/roles/api.ts';
import { createApiKey } from '../src/auth/api-keys.ts';
import type { Role } from '../src/core/context.ts';

/** HERALD_OPS_PORT and HERALD_OPS_TOKEN: metrics and the API description off the public port. */
let db: TestDatabase;
let services: Services;
let role: Role;
let publicBase: string;
let opsBase: string;
let key: string;
const TOKEN = 'ops-token-7c1e';

before(async () => {
  db = await createTestDatabase();
  const [port, opsPort] = [await freePort(), await freePort()];
  const ctx = await testContext(db, { HERALD_PORT: String(port), HERALD_OPS_PORT: String(opsPort), HERALD_OPS_TOKEN: TOKEN, HERALD_HOST: '127.0.0.1' });
  services = buildServices(ctx);
  role = apiRole(ctx, services);
  await role.start();
  publicBase = `http://127.0.0.1:${port}`;
  opsBase = `http://127.0.0.1:${opsPort}`;
  key = (await createApiKey(db.pool, 'ops-test')).key;
});
after(async () => {
  await role.stop();
  await services.close();
  await db.close();
});

const get = (url: string, token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});

test('the public port serves the API but not /metrics, /openapi.json or /docs', async () => {
  assert.equal((await get(`${publicBase}/v1/keys`, key)).status, 200);
  assert.equal((await get(`${publicBase}/readyz`)).status, 200);
  for (const path of ['/metrics', '/openapi.json', '/docs', '/docs/static/index.html']) {
    const res = await get(`${publicBase}${path}`, TOKEN);
    assert.equal(res.status, 404, path);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  }
});

test('the ops port serves them to the ops token only, and the probes to anyone', async () => {
  for (const path of ['/metrics', '/openapi.json', '/docs']) {
    assert.equal((await get(`${opsBase}${path}`)).status, 401, `${path} without the token`);
    assert.equal((await get(`${opsBase}${path}`, key)).status, 401, `${path} with an API key`);
  }
  const metrics = await get(`${opsBase}/metrics`, TOKEN);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /herald_/);
  const doc = (await (await get(`${opsBase}/openapi.json`, TOKEN)).json()) as { paths: Record<string, unknown> };
  assert.ok(doc.paths['/v1/keys'], 'the document describes the public API');
  const ui = await get(`${opsBase}/docs/`, TOKEN);
  assert.equal(ui.status, 200);
  await ui.arrayBuffer();
  assert.equal((await get(`${opsBase}/healthz`)).status, 200);
  assert.equal((await get(`${opsBase}/v1/keys`, key)).status, 404, 'the API itself is not on the ops port');
});
