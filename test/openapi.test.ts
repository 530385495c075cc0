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

interface Operation {
  tags?: string[];
  summary?: string;
  responses?: Record<string, unknown>;
  requestBody?: { content: Record<string, { schema: { additionalProperties?: boolean } }> };
}

test('/openapi.json documents every users, devices, reminders, events and apps route with tags, summary and responses', async () => {
  const doc = (await h.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };
  const expected = [
    'put /v1/users/{userId}', 'get /v1/users/{userId}', 'delete /v1/users/{userId}', 'get /v1/me', 'put /v1/me',
    'post /v1/users/{userId}/devices', 'get /v1/users/{userId}/devices', 'delete /v1/users/{userId}/devices/{deviceId}',
    'post /v1/me/devices', 'get /v1/me/devices', 'delete /v1/me/devices/{deviceId}',
    'post /v1/users/{userId}/reminders', 'get /v1/users/{userId}/reminders', 'get /v1/users/{userId}/reminders/{reminderId}',
    'patch /v1/users/{userId}/reminders/{reminderId}', 'post /v1/users/{userId}/reminders/{reminderId}', 'delete /v1/users/{userId}/reminders/{reminderId}',
    'post /v1/me/reminders', 'get /v1/me/reminders', 'get /v1/me/reminders/{reminderId}', 'patch /v1/me/reminders/{reminderId}',
    'post /v1/me/reminders/{reminderId}', 'delete /v1/me/reminders/{reminderId}',
    'get /v1/users/{userId}/events', 'get /v1/me/events', 'put /v1/apps/{appId}', 'get /v1/apps/{appId}',
  ];
  for (const route of expected) {
    const [method, path] = route.split(' ') as [string, string];
    const op = doc.paths[path]?.[method];
    assert.ok(op, `${route} is in the document`);
    assert.ok(op.tags && op.tags.length > 0, `${route} has tags`);
    assert.ok(op.summary, `${route} has a summary`);
    const success = Object.keys(op.responses ?? {}).filter((s) => s.startsWith('2'));
    assert.ok(success.length > 0, `${route} documents its success response`);
    assert.ok(op.responses?.['401'] || op.responses?.['400'], `${route} documents its errors`);
    const body = op.requestBody?.content['application/json']?.schema;
    if (body) assert.equal(body.additionalProperties, false, `${route} rejects unknown fields`);
  }
});

test('query parameters with a default are optional in the document (herald fills the default in)', async () => {
  const doc = (await h.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string; required?: boolean; schema?: { default?: unknown } }> }>> };
  const list = doc.paths['/v1/me/inbox']?.get?.parameters ?? [];
  for (const name of ['limit', 'offset', 'unread']) {
    const p = list.find((x) => x.in === 'query' && x.name === name);
    assert.ok(p, `${name} is documented`);
    assert.notEqual(p.schema?.default, undefined, `${name} has its default`);
    assert.equal(p.required, false, `${name} may be left out`);
  }
  const res = await h.app.inject({ url: '/v1/users/nobody/inbox', headers: { authorization: `Bearer ${h.apiKey}` } });
  assert.equal(res.statusCode, 200, 'and the API agrees');
  assert.deepEqual([res.json().limit, res.json().offset], [50, 0]);
  const path = doc.paths['/v1/users/{userId}/inbox']?.get?.parameters?.find((x) => x.in === 'path');
  assert.equal(path?.required, true, 'path parameters stay required');
});
