import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { userToken as userTokenFor } from './helpers/user-token.ts';
import { createHarness, type TestHarness } from './helpers/app.ts';

/** Template routes: versions, built-ins, deletion, previews, and every bad input a stable 4xx that writes nothing. */

let h: TestHarness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h.close();
});

const ORDER = {
  description: 'Order shipped',
  variables: { name: { type: 'string', required: true }, count: { type: 'number', required: true }, when: { type: 'date', required: true } },
  locales: {
    en: {
      push: { title: 'Hi {name}', body: '{count, plural, one {# parcel} other {# parcels}} arrive {when, date, long}' },
      inbox: { title: 'Shipped', body: '{count, plural, one {# parcel} other {# parcels}}', url: 'https://shop.example/o/{name}' },
      webhook: { title: 'shipped', data: { summary: '{count, number} for {name}' } },
    },
    de: { push: { title: 'Hallo {name}', body: '{count, plural, one {# Paket kommt} other {# Pakete kommen}} am {when, date, long}' } },
  },
};
const DATA = { name: 'Ada', count: 2, when: '2027-01-04T08:30:00Z' };

const put = (app: string, key: string, payload: unknown) => h.request({ method: 'PUT', url: `/v1/apps/${app}/templates/${key}`, payload: payload as object });

async function counts(): Promise<string> {
  const { rows } = await h.db.pool.query(`SELECT (SELECT count(*) FROM templates) t, (SELECT count(*) FROM template_versions) v,
    (SELECT count(*) FROM events) e, (SELECT max(updated_at) FROM templates) u`);
  return JSON.stringify(rows[0]);
}

function expectError(res: { statusCode: number; body: string }, status: number, code: string, what = ''): { details?: Array<{ field: string; message: string }> } {
  assert.equal(res.statusCode, status, `${what} ${res.body}`);
  const error = (JSON.parse(res.body) as { error: { code: string; details?: Array<{ field: string; message: string }> } }).error;
  assert.equal(error.code, code, what);
  assert.ok(!/\bat .+\.ts:\d+/.test(res.body), 'no stack traces');
  return error;
}

test('each changed PUT is a new version; an identical PUT is not; old versions stay readable', async () => {
  const first = await put('default', 'order', ORDER);
  assert.equal(first.statusCode, 200, first.body);
  assert.equal(first.json().version, 1);
  assert.equal(first.json().defaultLocale, 'en', "the app's default locale");
  assert.equal(first.json().builtIn, false);
  const again = await put('default', 'order', ORDER);
  assert.equal(again.json().version, 1, 'nothing changed');
  const changed = await put('default', 'order', { ...ORDER, description: 'Order on its way' });
  assert.equal(changed.json().version, 2);
  const latest = await h.request({ url: '/v1/apps/default/templates/order' });
  assert.equal(latest.json().version, 2);
  assert.equal(latest.json().description, 'Order on its way');
  const v1 = await h.request({ url: '/v1/apps/default/templates/order/versions/1' });
  assert.equal(v1.json().description, 'Order shipped');
  assert.deepEqual(v1.json().locales.de, ORDER.locales.de);
  const versions = await h.request({ url: '/v1/apps/default/templates/order/versions' });
  assert.deepEqual(versions.json().items.map((v: { version: number }) => v.version), [2, 1]);
  const { rows } = await h.db.pool.query(`SELECT type, data FROM events WHERE item_type = 'template' AND item_id = 'default/order' ORDER BY id`);
  assert.deepEqual(rows.map((r) => [r.type, r.data.version]), [['template:created', 1], ['template:updated', 2]]);
});

test('the app lists its templates and the built-in reminder e-mail', async () => {
  await put('default', 'order', ORDER);
  const list = await h.request({ url: '/v1/apps/default/templates' });
  assert.equal(list.statusCode, 200, list.body);
  const items = list.json().items as Array<{ key: string; version: number; builtIn: boolean; locales: string[]; channels: string[] }>;
  const reminder = items.find((t) => t.key === 'herald.reminder');
  assert.deepEqual({ ...reminder, updatedAt: undefined }, { key: 'herald.reminder', version: 0, builtIn: true, description: reminder && (reminder as { description?: string }).description, defaultLocale: 'en', locales: ['de', 'en', 'fr'], channels: ['email'], updatedAt: undefined });
  const order = items.find((t) => t.key === 'order')!;
  assert.deepEqual(order.locales, ['de', 'en']);
  assert.deepEqual(order.channels, ['push', 'inbox', 'webhook']);
  const builtIn = await h.request({ url: '/v1/apps/default/templates/herald.reminder' });
  assert.equal(builtIn.json().version, 0);
  assert.ok(builtIn.json().locales.de.email.subject.includes('Erinnerung'));
});

test('an app overrides the built-in reminder e-mail; deleting the override brings the built-in back', async () => {
  const override = {
    variables: { name: { type: 'string' }, title: { type: 'string' }, hasName: { type: 'boolean' } },
    locales: { en: { email: { subject: '{title}', text: '{hasName, select, true {Dear {name}} other {Hello}}' } } },
  };
  const saved = await put('default', 'herald.reminder', override);
  assert.equal(saved.statusCode, 200, saved.body);
  assert.equal(saved.json().version, 1);
  const versions = await h.request({ url: '/v1/apps/default/templates/herald.reminder/versions' });
  assert.deepEqual(versions.json().items.map((v: { version: number; builtIn: boolean }) => [v.version, v.builtIn]), [[1, false], [0, true]]);
  assert.equal((await h.request({ method: 'DELETE', url: '/v1/apps/default/templates/herald.reminder' })).statusCode, 204);
  assert.equal((await h.request({ url: '/v1/apps/default/templates/herald.reminder' })).json().version, 0);
  expectError(await h.request({ method: 'DELETE', url: '/v1/apps/default/templates/herald.reminder' }), 409, 'CONFLICT', 'built-ins cannot be deleted');
  const bad = expectError(await put('default', 'herald.reminder', { variables: { orderId: { type: 'string' } }, locales: { en: { email: { subject: 'x', text: '{orderId}' } } } }), 422, 'TEMPLATE_INVALID');
  assert.equal(bad.details![0]!.field, 'body.variables.orderId');
  expectError(await put('default', 'herald.digest', ORDER), 422, 'TEMPLATE_INVALID', 'herald.* is reserved');
});

test('DELETE hides the key, keeps its versions, and a later PUT continues the numbering', async () => {
  await put('default', 'gone', ORDER);
  await put('default', 'gone', { ...ORDER, description: 'two' });
  assert.equal((await h.request({ method: 'DELETE', url: '/v1/apps/default/templates/gone' })).statusCode, 204);
  expectError(await h.request({ url: '/v1/apps/default/templates/gone' }), 404, 'NOT_FOUND');
  expectError(await h.request({ method: 'DELETE', url: '/v1/apps/default/templates/gone' }), 404, 'NOT_FOUND');
  assert.equal((await h.request({ url: '/v1/apps/default/templates/gone/versions/2' })).json().description, 'two');
  assert.ok(!(await h.request({ url: '/v1/apps/default/templates' })).json().items.some((t: { key: string }) => t.key === 'gone'));
  const revived = await put('default', 'gone', ORDER);
  assert.equal(revived.json().version, 3, 'version numbers are never reused');
  const { rows } = await h.db.pool.query(`SELECT type FROM events WHERE item_id = 'default/gone' ORDER BY id`);
  assert.deepEqual(rows.map((r) => r.type), ['template:created', 'template:updated', 'template:deleted', 'template:created']);
});

test('a template falls back to its app’s default locale unless it names one', async () => {
  const app = await h.request({ method: 'PUT', url: '/v1/apps/berlin', payload: { name: 'Berlin', defaultLocale: 'de_de' } });
  assert.equal(app.statusCode, 200, app.body);
  assert.equal(app.json().defaultLocale, 'de-DE');
  const saved = await put('berlin', 'hello', { locales: { 'de-DE': { push: { body: 'Hallo' } }, en: { push: { body: 'Hello' } } } });
  assert.equal(saved.json().defaultLocale, 'de-DE');
  expectError(await h.request({ method: 'PUT', url: '/v1/apps/bad-locale', payload: { name: 'x', defaultLocale: 'not a tag' } }), 400, 'VALIDATION_FAILED');
  expectError(await put('berlin', 'hello2', { locales: { fr: { push: { body: 'Salut' } } } }), 422, 'TEMPLATE_INVALID', 'de-DE is not among the locales');
});

test('a template that does not compile is 422 naming locale, channel and field, and nothing is stored', async () => {
  const before = await counts();
  const res = await put('default', 'broken', {
    variables: { count: { type: 'number', required: true } },
    locales: { en: { push: { body: '{count, plural, one {# item}}' } }, de: { push: { body: '{count, plural, one {# Teil} other {# Teile}} für {who}' } } },
  });
  const error = expectError(res, 422, 'TEMPLATE_INVALID');
  assert.deepEqual(error.details!.map((d) => d.field), ['body.locales.en.push.body', 'body.locales.de.push.body']);
  assert.match(error.details![0]!.message, /missing other clause at line 1/);
  assert.match(error.details![1]!.message, /\{who\}, which is not declared/);
  expectError(await put('default', 'tags', { locales: { 'not a tag!': { push: { body: 'x' } } } }), 400, 'VALIDATION_FAILED', 'locale keys are checked by the schema');
  expectError(await put('default', 'tags', { locales: { en_x_y_zz: { push: { body: 'x' } } } }), 422, 'TEMPLATE_INVALID', 'not BCP 47');
  assert.equal(await counts(), before);
});

test('an unknown app is 404 on every template route', async () => {
  expectError(await put('nope', 'order', ORDER), 404, 'NOT_FOUND');
  expectError(await h.request({ url: '/v1/apps/nope/templates' }), 404, 'NOT_FOUND');
  expectError(await h.request({ url: '/v1/apps/nope/templates/order' }), 404, 'NOT_FOUND');
  expectError(await h.request({ url: '/v1/apps/default/templates/never' }), 404, 'NOT_FOUND');
  expectError(await h.request({ url: '/v1/apps/default/templates/never/versions/1' }), 404, 'NOT_FOUND');
  expectError(await h.request({ url: '/v1/apps/default/templates/never/versions' }), 404, 'NOT_FOUND');
  expectError(await h.request({ url: '/v1/apps/default/templates/order/versions/x' }), 400, 'VALIDATION_FAILED');
  expectError(await h.request({ url: '/v1/apps/default/templates/bad!key' }), 400, 'VALIDATION_FAILED');
});

test('the preview renders what a recipient would get', async () => {
  await put('default', 'preview', ORDER);
  const res = await h.request({ method: 'POST', url: '/v1/apps/default/templates/preview/render', payload: { locale: 'de-AT', timezone: 'Europe/Vienna', data: DATA } });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.equal(body.version, 1);
  assert.deepEqual(body.rendered.push, { locale: 'de', title: 'Hallo Ada', body: '2 Pakete kommen am 4. Jänner 2027' });
  assert.deepEqual(body.rendered.inbox, { locale: 'en', title: 'Shipped', body: '2 parcels', url: 'https://shop.example/o/Ada' });
  assert.deepEqual(body.rendered.webhook, { locale: 'en', title: 'shipped', data: { summary: '2 for Ada' } });
  const one = await h.request({ method: 'POST', url: '/v1/apps/default/templates/preview/render', payload: { channel: 'push', data: { ...DATA, count: 1 }, version: 1 } });
  assert.deepEqual(one.json().rendered, { push: { locale: 'en', title: 'Hi Ada', body: '1 parcel arrive January 4, 2027' } });
  const missing = expectError(await h.request({ method: 'POST', url: '/v1/apps/default/templates/preview/render', payload: { data: { count: 'two' } } }), 422, 'TEMPLATE_DATA_INVALID');
  assert.deepEqual(missing.details!.map((d) => d.field), ['body.data.count', 'body.data.name', 'body.data.when']);
  expectError(await h.request({ method: 'POST', url: '/v1/apps/default/templates/preview/render', payload: { channel: 'email', data: DATA } }), 422, 'TEMPLATE_CHANNEL_MISSING');
  expectError(await h.request({ method: 'POST', url: '/v1/apps/default/templates/preview/render', payload: { version: 9, data: DATA } }), 404, 'NOT_FOUND');
});

test('bad input to the template routes is a stable 4xx and writes nothing', async () => {
  const before = await counts();
  const cases: Array<[string, string, string, number, string]> = [
    ['PUT', '/v1/apps/default/templates/t1', '{"locales": ', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '[]', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '{}', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '{"locales": {}}', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '{"locales": {"en": {"push": {"body": 7}}}}', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '{"locales": {"en": {"sms": {"body": "x"}}}}', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '{"locales": {"en": {"email": {"text": "x"}}}}', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '{"variables": {"1x": {"type": "string"}}, "locales": {"en": {"push": {"body": "x"}}}}', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '{"variables": {"x": {"type": "money"}}, "locales": {"en": {"push": {"body": "x"}}}}', 400, 'VALIDATION_FAILED'],
    ['PUT', '/v1/apps/default/templates/t1', '{"locales": {"en": {"push": {"body": "x"}}}, "surprise": 1}', 400, 'VALIDATION_FAILED'],
    ['POST', '/v1/apps/default/templates/t1/render', '{"channel": "sms"}', 400, 'VALIDATION_FAILED'],
    ['POST', '/v1/apps/default/templates/t1/render', '{"data": []}', 400, 'VALIDATION_FAILED'],
    ['POST', '/v1/apps/default/templates/t1/render', '{}', 404, 'NOT_FOUND'],
  ];
  for (const [method, url, payload, status, code] of cases) {
    const res = await h.app.inject({ method: method as 'PUT', url, payload, headers: { authorization: `Bearer ${h.apiKey}`, 'content-type': 'application/json' } });
    expectError(res, status, code, `${method} ${url} ${payload}`);
  }
  expectError(await h.app.inject({ method: 'PUT', url: '/v1/apps/default/templates/t1', payload: 'x', headers: { authorization: `Bearer ${h.apiKey}`, 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  expectError(await h.app.inject({ method: 'PUT', url: '/v1/apps/default/templates/t1', payload: { locales: { en: { push: { body: 'x'.repeat(1_100_000) } } } } }), 401, 'UNAUTHENTICATED');
  expectError(await put('default', 't1', { locales: { en: { push: { body: 'x'.repeat(1_100_000) } } } }), 413, 'PAYLOAD_TOO_LARGE');
  const userToken = await userTokenFor('someone');
  expectError(await h.app.inject({ method: 'PUT', url: '/v1/apps/default/templates/t1', payload: ORDER, headers: { authorization: `Bearer ${userToken}` } }), 403, 'PERMISSION_DENIED', 'templates are admin routes');
  assert.equal(await counts(), before);
});
