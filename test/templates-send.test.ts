import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { userToken as userTokenFor } from './helpers/user-token.ts';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { eventually, scriptedChannel, startEngine, type RunningEngine } from './helpers/engine.ts';

/**
 * Sending with a template, end to end through the API, the database and the real worker: data is
 * checked before anything is stored, the version is pinned, and each delivery is rendered in its
 * recipient's language and time zone.
 */

let h: TestHarness;
let engine: RunningEngine;
const email = scriptedChannel('email', () => ({ status: 'sent', providerId: 'm' }));
const webhook = scriptedChannel('webhook', () => ({ status: 'sent', providerId: 'w' }));

const ORDER = {
  variables: { count: { type: 'number', required: true }, when: { type: 'date', required: true }, name: { type: 'string' } },
  locales: {
    en: {
      push: { title: 'Order', body: '{count, plural, one {Your parcel arrives} other {Your # parcels arrive}} {when, date, full}' },
      inbox: { title: 'Hi {name}', body: '{count, plural, one {Your parcel arrives} other {Your # parcels arrive}} {when, date, full}' },
      webhook: { title: 'order', data: { summary: '{count} for {name}' } },
      email: { subject: 'Order for {name}', html: '<p>Hello {name}</p>', text: 'Hello {name}' },
    },
    de: {
      inbox: { title: 'Hallo {name}', body: '{count, plural, one {Ihr Paket kommt} other {Ihre # Pakete kommen}} am {when, date, full}' },
    },
  },
};
const WHEN = '2027-01-04T23:30:00Z'; // Monday evening in New York and UTC, Tuesday in Berlin and Vienna

before(async () => {
  h = await createHarness();
  engine = await startEngine(h, [email, webhook]);
  for (const [id, body] of Object.entries({
    de: { locale: 'de-DE', timezone: 'Europe/Berlin', name: 'Dora', email: 'dora@example.org' },
    at: { locale: 'de-AT', timezone: 'Europe/Vienna', name: 'Anton' },
    xx: { locale: 'xx-YY', timezone: 'America/New_York', name: 'Xena' },
    none: { name: 'Nemo' },
  })) {
    const res = await h.request({ method: 'PUT', url: `/v1/users/${id}`, payload: body });
    assert.equal(res.statusCode, 200, res.body);
  }
  const res = await h.request({ method: 'PUT', url: '/v1/apps/default/templates/order', payload: ORDER });
  assert.equal(res.statusCode, 200, res.body);
});
after(async () => {
  await engine.stop();
  await h.close();
});

async function send(body: Record<string, unknown>): Promise<{ statusCode: number; body: string; id: string }> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: body });
  return { statusCode: res.statusCode, body: res.body, id: res.statusCode === 202 ? res.json().id : '' };
}

async function settled(id: string): Promise<{ status: string; template?: { key: string; version: number }; deliveries: Array<{ status: string; lastError?: string; channel: string; userId?: string }> }> {
  return eventually(async () => {
    const n = (await h.request({ url: `/v1/notifications/${id}` })).json();
    return n.deliveries.length > 0 && n.deliveries.every((d: { status: string }) => !['pending', 'sending'].includes(d.status)) ? n : undefined;
  }, 15_000, `notification ${id} to settle`);
}

async function inbox(notificationId: string): Promise<Record<string, { title: string; body: string }>> {
  const { rows } = await h.db.pool.query<{ user_id: string; title: string; body: string }>(`SELECT user_id, title, body FROM inbox_items WHERE notification_id = $1`, [notificationId]);
  return Object.fromEntries(rows.map((r) => [r.user_id, { title: r.title, body: r.body }]));
}

/** Make a scheduled notification's deliveries due now and wake the worker. */
async function dueNow(id: string): Promise<void> {
  await h.db.pool.query(`UPDATE deliveries SET due_at = now(), run_at = now() WHERE notification_id = $1 AND status = 'pending'`, [id]);
  await h.db.pool.query(`SELECT pg_notify('herald_deliveries', $1)`, [String(Date.now())]);
}

async function counts(): Promise<string> {
  const { rows } = await h.db.pool.query(`SELECT (SELECT count(*) FROM notifications) n, (SELECT count(*) FROM deliveries) d, (SELECT count(*) FROM events) e, (SELECT count(*) FROM reminders) r`);
  return JSON.stringify(rows[0]);
}

const later = () => new Date(Date.now() + 3_600_000).toISOString();

test('each recipient gets their language and time zone: German, Austrian German, and the default for an unknown locale', async () => {
  const sent = await send({ to: { userIds: ['de', 'at', 'xx', 'none'] }, channels: ['inbox'], template: { key: 'order', data: { count: 2, when: WHEN, name: 'friend' } } });
  assert.equal(sent.statusCode, 202, sent.body);
  const n = await settled(sent.id);
  assert.equal(n.status, 'sent');
  assert.deepEqual(n.template, { key: 'order', version: 1 });
  assert.deepEqual(await inbox(sent.id), {
    de: { title: 'Hallo friend', body: 'Ihre 2 Pakete kommen am Dienstag, 5. Januar 2027' },
    at: { title: 'Hallo friend', body: 'Ihre 2 Pakete kommen am Dienstag, 5. Jänner 2027' },
    xx: { title: 'Hi friend', body: 'Your 2 parcels arrive Monday, January 4, 2027' },
    none: { title: 'Hi friend', body: 'Your 2 parcels arrive Monday, January 4, 2027' },
  });
});

test('missing or mistyped variables answer 422 naming each one, and nothing is stored', async () => {
  const before = await counts();
  const res = await send({ to: { userIds: ['de', 'at'] }, channels: ['inbox', 'email'], template: { key: 'order', data: { count: 'two', name: 7 } } });
  assert.equal(res.statusCode, 422, res.body);
  const error = JSON.parse(res.body).error;
  assert.equal(error.code, 'TEMPLATE_DATA_INVALID');
  assert.deepEqual(error.details, [
    { field: 'body.template.data.count', message: 'must be a number, not the text "two"' },
    { field: 'body.template.data.name', message: 'must be a string, not the number 7' },
    { field: 'body.template.data.when', message: 'is required (a date: RFC 3339 text such as 2026-12-01T09:00:00Z)' },
  ]);
  assert.equal(await counts(), before);
});

test('an unknown template or version, or a channel the template cannot fill, is a stable 422', async () => {
  const before = await counts();
  const data = { count: 1, when: WHEN };
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ key: 'nope', data }, 'UNKNOWN_TEMPLATE'],
    [{ key: 'order', version: 7, data }, 'UNKNOWN_TEMPLATE'],
  ];
  for (const [template, code] of cases) {
    const res = await send({ to: { userId: 'de' }, channels: ['inbox'], template });
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(JSON.parse(res.body).error.code, code);
  }
  const raw = await send({ to: { device: { platform: 'ios', token: 'ab'.repeat(32) } }, template: { key: 'order', data: {} } });
  assert.equal(JSON.parse(raw.body).error.code, 'TEMPLATE_DATA_INVALID', 'raw-device notifications are checked too');
  assert.equal(await counts(), before);
  await h.request({ method: 'PUT', url: '/v1/apps/default/templates/inbox-only', payload: { locales: { en: { inbox: { body: 'x' } } } } });
  const beforeBare = await counts();
  const bare = await send({ to: { userId: 'de' }, channels: ['push', 'inbox'], template: { key: 'inbox-only' } });
  assert.equal(bare.statusCode, 422, bare.body);
  assert.equal(JSON.parse(bare.body).error.code, 'TEMPLATE_CHANNEL_MISSING');
  assert.equal(await counts(), beforeBare);
  const withOwnTitle = await send({ to: { userId: 'de' }, channels: ['push', 'inbox'], title: 'Own', template: { key: 'inbox-only' } });
  assert.equal(withOwnTitle.statusCode, 202, 'push falls back to the notification’s own title');
});

test('an edited template does not change a queued notification', async () => {
  await h.request({ method: 'PUT', url: '/v1/apps/default/templates/edit-me', payload: { locales: { en: { inbox: { title: 'first words' } } } } });
  const queued = await send({ to: { userId: 'de' }, channels: ['inbox'], sendAt: later(), template: { key: 'edit-me' } });
  assert.equal(queued.statusCode, 202, queued.body);
  const edited = await h.request({ method: 'PUT', url: '/v1/apps/default/templates/edit-me', payload: { locales: { en: { inbox: { title: 'second words' } } } } });
  assert.equal(edited.json().version, 2);
  const fresh = await send({ to: { userId: 'de' }, channels: ['inbox'], template: { key: 'edit-me' } });
  await dueNow(queued.id);
  assert.deepEqual((await settled(queued.id)).template, { key: 'edit-me', version: 1 });
  assert.deepEqual((await settled(fresh.id)).template, { key: 'edit-me', version: 2 });
  assert.equal((await inbox(queued.id)).de?.title, 'first words');
  assert.equal((await inbox(fresh.id)).de?.title, 'second words');
  // Even deleting the template leaves what was queued intact.
  const queued2 = await send({ to: { userId: 'de' }, channels: ['inbox'], sendAt: later(), template: { key: 'edit-me' } });
  assert.equal((await h.request({ method: 'DELETE', url: '/v1/apps/default/templates/edit-me' })).statusCode, 204);
  assert.equal(JSON.parse((await send({ to: { userId: 'de' }, channels: ['inbox'], template: { key: 'edit-me' } })).body).error.code, 'UNKNOWN_TEMPLATE');
  await dueNow(queued2.id);
  assert.equal((await settled(queued2.id)).status, 'sent');
  assert.equal((await inbox(queued2.id)).de?.title, 'second words');
});

test('a template that fails to render fails that delivery with the reason; the worker goes on', async () => {
  const data = { count: 1, when: WHEN };
  const missing = await send({ to: { userId: 'de' }, channels: ['inbox'], sendAt: later(), template: { key: 'order', data } });
  const garbage = await send({ to: { userId: 'de' }, channels: ['inbox'], sendAt: later(), template: { key: 'order', data } });
  const fine = await send({ to: { userId: 'de' }, channels: ['inbox'], sendAt: later(), template: { key: 'order', data } });
  // Rows that could not have been written through the API: a version that does not exist, a date Intl refuses.
  await h.db.pool.query(`UPDATE notifications SET payload = jsonb_set(payload, '{template,version}', '99') WHERE id = $1`, [missing.id]);
  await h.db.pool.query(`UPDATE notifications SET payload = jsonb_set(payload, '{template,data,when}', '"9999-99-99"') WHERE id = $1`, [garbage.id]);
  for (const id of [missing.id, garbage.id, fine.id]) await dueNow(id);
  const [a, b, c] = await Promise.all([settled(missing.id), settled(garbage.id), settled(fine.id)]);
  assert.equal(a.deliveries[0]!.status, 'failed');
  assert.match(a.deliveries[0]!.lastError!, /^TEMPLATE_RENDER_FAILED: version 99 of template "order" does not exist/);
  assert.equal(b.deliveries[0]!.status, 'failed');
  assert.match(b.deliveries[0]!.lastError!, /^TEMPLATE_RENDER_FAILED: order v1 \(inbox\): .*[Ii]nvalid time value/);
  assert.equal(c.status, 'sent');
  const after = await send({ to: { userId: 'de' }, channels: ['inbox'], template: { key: 'order', data } });
  assert.equal((await settled(after.id)).status, 'sent', 'the worker is still running');
});

test('e-mail and webhook deliveries render their channel of the template', async () => {
  email.jobs.length = 0;
  webhook.jobs.length = 0;
  const sent = await send({ to: { userId: 'de' }, channels: ['email', 'webhook'], data: { orderId: 'o1' }, template: { key: 'order', data: { count: 3, when: WHEN, name: '<b>Dora</b>' } } });
  assert.equal((await settled(sent.id)).status, 'sent');
  const mail = email.jobs.find((j) => j.notificationId === sent.id)!;
  assert.deepEqual(mail.content.email, { subject: 'Order for <b>Dora</b>', html: '<p>Hello &lt;b&gt;Dora&lt;/b&gt;</p>', text: 'Hello <b>Dora</b>' });
  const hook = webhook.jobs.find((j) => j.notificationId === sent.id)!;
  assert.equal(hook.content.title, 'order');
  assert.deepEqual(hook.content.data, { orderId: 'o1', summary: '3 for <b>Dora</b>' });
});

test('e-mail without content gets the reminder template in the user’s language, pinned to the app’s override', async () => {
  email.jobs.length = 0;
  const builtIn = await send({ to: { userId: 'de' }, channels: ['email'], title: 'Zahnarzt', body: 'Um 15 Uhr' });
  await settled(builtIn.id);
  const german = email.jobs.find((j) => j.notificationId === builtIn.id)!;
  assert.equal(german.content.email?.subject, 'Zahnarzt');
  assert.match(german.content.email?.text ?? '', /^Hallo Dora,\n\nZahnarzt\n\nUm 15 Uhr/);
  const override = (text: string) => ({ variables: { title: { type: 'string' } }, locales: { en: { email: { subject: '[app] {title}', text } } } });
  assert.equal((await h.request({ method: 'PUT', url: '/v1/apps/default/templates/herald.reminder', payload: override('first override') })).json().version, 1);
  const queued = await send({ to: { userId: 'de' }, channels: ['email'], title: 'T', sendAt: later() });
  await h.request({ method: 'PUT', url: '/v1/apps/default/templates/herald.reminder', payload: override('second override') });
  await dueNow(queued.id);
  await settled(queued.id);
  const pinned = email.jobs.find((j) => j.notificationId === queued.id)!;
  assert.deepEqual(pinned.content.email, { subject: '[app] T', text: 'first override' });
  await h.request({ method: 'DELETE', url: '/v1/apps/default/templates/herald.reminder' });
});

test('reminders take a template: checked and pinned when saved, rendered at every occurrence', async () => {
  const before = await counts();
  const date = new Date(Date.now() + 2 * 3_600_000).toISOString();
  const bad = await h.request({ method: 'POST', url: '/v1/users/at/reminders', payload: { date, channels: ['inbox'], template: { key: 'order', data: { count: 1 } } } });
  assert.equal(bad.statusCode, 422, bad.body);
  assert.equal(bad.json().error.code, 'TEMPLATE_DATA_INVALID');
  assert.deepEqual(bad.json().error.details.map((d: { field: string }) => d.field), ['body.template.data.when']);
  const bare = await h.request({ method: 'POST', url: '/v1/users/at/reminders', payload: { date } });
  assert.equal(bare.statusCode, 400, 'a message or a template is needed');
  assert.equal(bare.json().error.code, 'VALIDATION_FAILED');
  assert.equal(await counts(), before);

  const created = await h.request({ method: 'POST', url: '/v1/users/at/reminders', payload: { date, channels: ['inbox'], template: { key: 'order', data: { count: 1, when: WHEN } } } });
  assert.equal(created.statusCode, 201, created.body);
  assert.deepEqual(created.json().template, { key: 'order', version: 1, data: { count: 1, when: WHEN } });
  const list = (await h.request({ url: '/v1/users/at/notifications' })).json().items as Array<{ id: string; reminderId?: string; template?: unknown }>;
  const occurrence = list.find((n) => n.reminderId === created.json().id)!;
  assert.deepEqual(occurrence.template, { key: 'order', version: 1 });
  await dueNow(occurrence.id);
  await settled(occurrence.id);
  assert.deepEqual((await inbox(occurrence.id)).at, { title: 'Hallo ', body: 'Ihr Paket kommt am Dienstag, 5. Jänner 2027' });

  const patched = await h.request({ method: 'PATCH', url: `/v1/users/at/reminders/${created.json().id}`, payload: { template: { key: 'order', data: { count: 2, when: WHEN, name: 'Anton' } } } });
  assert.equal(patched.statusCode, 200, patched.body);
  assert.deepEqual(patched.json().template.data, { count: 2, when: WHEN, name: 'Anton' });
  const removed = await h.request({ method: 'PATCH', url: `/v1/users/at/reminders/${created.json().id}`, payload: { template: null } });
  assert.equal(removed.statusCode, 400, 'without a template the reminder needs a message');
  const message = await h.request({ method: 'PATCH', url: `/v1/users/at/reminders/${created.json().id}`, payload: { template: null, message: 'plain' } });
  assert.equal(message.statusCode, 200, message.body);
  assert.equal(message.json().template, undefined);
});

test('end users save reminders with a template through /v1/me, checked the same way', async () => {
  const token = await userTokenFor('de');
  const date = new Date(Date.now() + 2 * 3_600_000).toISOString();
  const me = (payload: unknown) => h.app.inject({ method: 'POST', url: '/v1/me/reminders', payload: payload as object, headers: { authorization: `Bearer ${token}` } });
  const shape = await me({ date, template: { key: 'order', data: 'count=1' } });
  assert.equal(shape.statusCode, 400, shape.body);
  assert.equal(shape.json().error.code, 'VALIDATION_FAILED');
  const unknown = await me({ date, template: { key: 'nope' } });
  assert.equal(unknown.json().error.code, 'UNKNOWN_TEMPLATE');
  const ok = await me({ date, channels: ['inbox'], template: { key: 'order', data: { count: 4, when: WHEN } } });
  assert.equal(ok.statusCode, 201, ok.body);
  assert.deepEqual(ok.json().template, { key: 'order', version: 1, data: { count: 4, when: WHEN } });
});
