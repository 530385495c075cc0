import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, type TestHarness } from './helpers/app.ts';

let h: TestHarness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h.close();
});

test('health, readiness and metrics answer without credentials', async () => {
  assert.equal((await h.app.inject({ url: '/healthz' })).statusCode, 200);
  const ready = await h.app.inject({ url: '/readyz' });
  assert.equal(ready.statusCode, 200, ready.body);
  const metrics = await h.app.inject({ url: '/metrics' });
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /herald_http_requests_total/);
});

test('the OpenAPI document is served and Swagger UI is at /docs', async () => {
  const doc = await h.app.inject({ url: '/openapi.json' });
  assert.equal(doc.statusCode, 200);
  assert.equal(doc.json().openapi, '3.0.3');
  const ui = await h.app.inject({ url: '/docs/' });
  assert.equal(ui.statusCode, 200);
});

test('unknown routes answer 404 NOT_FOUND in the error envelope', async () => {
  const res = await h.request({ url: '/v1/nothing-here' });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().error.code, 'NOT_FOUND');
});
