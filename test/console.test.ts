import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { createHarness, type TestHarness } from './helpers/app.ts';
import { startEngine, webhookSink, eventually, type RunningEngine } from './helpers/engine.ts';
import { browserSkip, launchBrowser, axeViolations, type BrowserSession } from './helpers/browser.ts';
import { userToken } from './helpers/user-token.ts';
import { CONSOLE_DIR } from '../src/api/routes/console.ts';

/**
 * The operator console in headless Chromium, served by a real herald (API and worker in this
 * process, a webhook receiver on loopback): sign-in, the live overview, a user's page, re-driving
 * a dead letter, and the keys it refuses. Each page is saved as a screenshot in .tmp/screenshots.
 */
const skip = browserSkip();
let h: TestHarness;
let engine: RunningEngine;
let herald: string;
let sink: Awaited<ReturnType<typeof webhookSink>>;
let session: BrowserSession | undefined;
const refuse = new Set<string>();

before(async () => {
  sink = await webhookSink((r) => (refuse.has(String(r.json.notificationId)) ? 400 : 200));
  h = await createHarness({ HERALD_WEBHOOK_URL: sink.url, HERALD_WEBHOOK_SECRET: 'whsec-console' });
  herald = await h.app.listen({ port: 0, host: '127.0.0.1' });
  engine = await startEngine(h);
  if (!skip) session = await launchBrowser();
});
after(async () => {
  await session?.close();
  await engine.stop();
  await h.close();
  await sink.close();
});

async function post(url: string, payload: Record<string, unknown>, method: 'POST' | 'PUT' = 'POST'): Promise<Record<string, any>> {
  const res = await h.request({ method, url, payload });
  assert.ok(res.statusCode < 300, `${url}: ${res.statusCode} ${res.body}`);
  return res.json();
}

async function notification(id: string): Promise<Record<string, any>> {
  return (await h.request({ url: `/v1/notifications/${id}` })).json();
}

/**
 * Opens the console and signs in with `key`. With the admin key it returns once the console is
 * signed in (its navigation shown), so a test's next `goto` cannot race the key's verification;
 * with any other key it returns after the click, for the test to see the refusal.
 */
async function signIn(key: string, options: { bypassCSP?: boolean } = {}): Promise<Page> {
  const page = await session!.page({ viewport: { width: 1280, height: 900 }, ...options });
  await page.goto(`${herald}/console`);
  await page.getByLabel('Admin API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (key === h.apiKey) await page.getByRole('navigation', { name: 'Console' }).waitFor();
  return page;
}

/** Waits for `locator`; on a timeout the error carries what the page's main area showed instead. */
async function seen(page: Page, locator: ReturnType<Page['locator']>, timeout = 15_000): Promise<void> {
  try {
    await locator.waitFor({ timeout });
  } catch (err) {
    const shown = await page.locator('main').innerText().catch(() => '(no main element)');
    throw new Error(`${(err as Error).message}\n--- the page showed instead ---\n${shown.slice(0, 4000)}`);
  }
}

const tile = (page: Page, name: string) => page.locator(`[data-tile="${name}"] .value`);

test('the console is built and served at /console with its own strict CSP', async () => {
  assert.ok(existsSync(path.join(CONSOLE_DIR, 'index.html')), 'packages/console/dist/index.html exists: run `npm run build`');
  const redirect = await h.app.inject({ url: '/console' });
  assert.equal(redirect.statusCode, 302);
  assert.equal(redirect.headers.location, '/console/');
  const page = await h.app.inject({ url: '/console/' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  assert.equal(page.headers['cache-control'], 'no-cache');
  const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
  assert.ok(script, page.body);
  const asset = await h.app.inject({ url: script });
  assert.equal(asset.statusCode, 200);
  assert.match(String(asset.headers['cache-control']), /immutable/);
  assert.doesNotMatch(asset.body, /https?:\/\/(cdn|unpkg|fonts)\./, 'nothing is loaded from a CDN');
  const missing = await h.app.inject({ url: '/console/assets/nope.js' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error.code, 'NOT_FOUND');
});

test('sign in with an admin key and see a delivery appear on the overview after a POST', { skip }, async () => {
  await post('/v1/users/ada', { email: 'ada@example.com', name: 'Ada Lovelace' }, 'PUT');
  // CSP bypassed only so that axe-core can be injected below.
  const page = await signIn(h.apiKey, { bypassCSP: true });
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('herald.console.apiKey')), h.apiKey, 'the key is kept in session storage');
  assert.ok(!page.url().includes(h.apiKey), 'never in the URL');
  await tile(page, 'sent').filter({ hasText: /^0$/ }).waitFor();

  const { id } = await post('/v1/notifications', { to: { userId: 'ada' }, title: 'Your order shipped', channels: ['webhook', 'inbox'] });
  await eventually(async () => (await notification(id)).status === 'sent', 15_000, 'the notification to be sent');
  // The overview polls: the two deliveries appear without a reload.
  await tile(page, 'sent').filter({ hasText: /^2$/ }).waitFor();
  await page.locator('#channel-totals tr[data-channel="webhook"][data-outcome="sent"] td.num').filter({ hasText: /^1$/ }).waitFor();
  await page.locator('#providers tr[data-provider="webhook"]').waitFor();
  await page.locator('#deliveries-chart .u-legend').getByText('webhook sent').waitFor();
  assert.notEqual(await tile(page, 'p50').textContent(), '–', 'lateness is shown');
  await session!.screenshot(page, 'console-overview');
  assert.deepEqual(session!.errors(page), []);
  assert.deepEqual((await axeViolations(page, 'main')).filter((v) => v.impact === 'critical' || v.impact === 'serious'), []);
});

test('a wrong key is refused and nothing is kept', { skip }, async () => {
  const page = await signIn('hk_not-a-key');
  await page.getByRole('alert').filter({ hasText: 'herald refused this key.' }).waitFor();
  assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.length), 0);
  assert.equal(await page.getByRole('navigation', { name: 'Console' }).count(), 0);
  await session!.screenshot(page, 'console-sign-in-refused');
});

test('an end user’s JWT cannot open the console', { skip }, async () => {
  const page = await signIn(await userToken('ada', { exp: '10m' }));
  await page.getByRole('alert').filter({ hasText: 'needs an admin API key' }).waitFor();
  assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.length), 0);
  // Even planted in session storage by hand, the JSON the pages read answers 403: back to sign-in.
  await page.evaluate((t) => (globalThis as any).sessionStorage.setItem('herald.console.apiKey', t), await userToken('ada', { exp: '10m' }));
  await page.goto(`${herald}/console/#/apps`);
  await page.reload();
  await page.getByRole('heading', { name: 'Apps' }).or(page.getByRole('alert').filter({ hasText: 'needs an admin API key' })).first().waitFor();
  await page.getByRole('alert').filter({ hasText: 'needs an admin API key' }).waitFor();
  assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.length), 0);
});

test('find a user by e-mail and open their devices, notifications, inbox and events', { skip }, async () => {
  await post('/v1/users/grace', { email: 'grace@example.com', name: 'Grace Hopper', timezone: 'America/New_York', preferences: { channels: { email: false } } }, 'PUT');
  const device = await post('/v1/users/grace/devices', { platform: 'web', subscription: { endpoint: 'https://push.example.com/send/abc', keys: { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' } } });
  await h.db.pool.query(`UPDATE devices SET status = 'invalid', invalid_reason = 'Web Push answered 410 Gone', invalidated_at = now() WHERE id = $1`, [device.id]);
  const { id } = await post('/v1/notifications', { to: { userId: 'grace' }, title: 'Compiler ready', body: 'Your build finished.', channels: ['inbox'] });
  await eventually(async () => (await notification(id)).status === 'sent', 15_000, 'the inbox item');

  const page = await signIn(h.apiKey);
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByLabel('User id or e-mail (the start of either)').fill('grace@');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator('#user-hits').getByRole('link', { name: 'grace' }).click();
  await page.getByRole('heading', { name: 'User grace' }).waitFor();
  await page.locator(`#devices tr[data-device="${device.id}"]`).getByText('Web Push answered 410 Gone').waitFor();
  await page.locator(`#notifications tr[data-notification="${id}"]`).getByText('× 1').waitFor();
  await page.locator('#inbox').getByText('Compiler ready').waitFor();
  await page.locator('#events').getByText('notification:created').first().waitFor();
  assert.match(await page.locator('#preferences').textContent() ?? '', /"email": false/);
  await session!.screenshot(page, 'console-user');

  await page.locator(`#notifications tr[data-notification="${id}"] a`).click();
  await page.locator('#deliveries tr[data-status="sent"]').waitFor();
  await page.locator('#history').getByText('notification:sent').waitFor();
  await session!.screenshot(page, 'console-notification');
  assert.deepEqual(session!.errors(page), []);
});

test('re-drive a failed webhook delivery from the dead letters and see it sent', { skip }, async () => {
  const created = await post('/v1/notifications', { to: { userId: 'ada' }, title: 'Invoice', channels: ['webhook'], sendAt: new Date(Date.now() + 1_000).toISOString() });
  refuse.add(created.id);
  const failed = await eventually(async () => {
    const n = await notification(created.id);
    return n.deliveries[0]?.status === 'failed' ? n.deliveries[0] : undefined;
  }, 15_000, 'the webhook delivery to fail');

  const page = await signIn(h.apiKey);
  await page.getByRole('link', { name: 'Dead letters' }).click();
  await page.getByLabel('Channel').selectOption('webhook');
  await page.getByLabel('Error contains').fill('answered 400');
  await page.getByRole('button', { name: 'Filter' }).click();
  const row = page.locator(`#dead-letters tr[data-delivery="${failed.id}"]`);
  await row.getByText('webhook answered 400').waitFor();
  assert.equal(await row.locator('td[data-step="0"]').count(), 1, 'its fallback step (0: no steps) is on the row');
  assert.equal(await row.getByText('fallback step').count(), 0, 'named only for a later step');
  await session!.screenshot(page, 'console-dead-letters');

  refuse.delete(created.id);
  await row.getByRole('checkbox').check();
  await page.getByRole('button', { name: 'Re-drive selected (1)' }).click();
  await page.getByRole('status').filter({ hasText: 'Re-driven 1 of 1 selected.' }).waitFor();
  await eventually(async () => (await notification(created.id)).deliveries[0]?.status === 'sent', 15_000, 'the re-driven delivery to be sent');
  await page.locator(`#dead-letters tr[data-delivery="${failed.id}"]`).waitFor({ state: 'detached', timeout: 10_000 }); // no longer a dead letter

  // Its notification page shows it sent, with the retry in its history.
  await page.goto(`${herald}/console/#/notifications/${created.id}`);
  await page.locator(`#deliveries tr[data-delivery="${failed.id}"][data-status="sent"]`).waitFor();
  await page.locator('#history').getByText('notification:retried').waitFor();
  assert.equal(sink.received.filter((r) => r.json.notificationId === created.id).length, 2, 'refused once, then taken');
});

test('a notification page cancels a scheduled notification and retries a failed one', { skip }, async () => {
  const later = await post('/v1/notifications', { to: { userId: 'ada' }, title: 'Tomorrow', channels: ['webhook'], sendAt: new Date(Date.now() + 86_400_000).toISOString() });
  const page = await signIn(h.apiKey);
  await page.goto(`${herald}/console/#/notifications/${later.id}`);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('status').filter({ hasText: 'Cancelled.' }).waitFor();
  assert.equal((await notification(later.id)).deliveries[0].status, 'cancelled');

  const soon = await post('/v1/notifications', { to: { userId: 'ada' }, title: 'Receipt', channels: ['webhook'], sendAt: new Date(Date.now() + 1_000).toISOString() });
  refuse.add(soon.id);
  await eventually(async () => (await notification(soon.id)).deliveries[0]?.status === 'failed', 15_000, 'the delivery to fail');
  refuse.delete(soon.id);
  await page.goto(`${herald}/console/#/notifications/${soon.id}`);
  await page.getByRole('button', { name: 'Retry failed' }).click();
  await page.getByRole('status').filter({ hasText: 'Re-driven 1 failed delivery.' }).waitFor();
  await eventually(async () => (await notification(soon.id)).deliveries[0]?.status === 'sent', 15_000, 'the retried delivery to be sent');
});

test('a fallback chain shows each delivery\'s step on the notification and user pages, and Cancel stops the waiting step', { skip }, async () => {
  await post('/v1/users/lin', { name: 'Lin' }, 'PUT');
  const chain = await post('/v1/notifications', { to: { userId: 'lin' }, title: 'Your code', steps: [{ channels: ['inbox'] }, { after: '1h', channels: ['webhook'], unless: 'read' }] });
  await eventually(async () => {
    const n = await notification(chain.id);
    return n.steps?.[0]?.status === 'sent' && n.deliveries.some((d: { step: number }) => d.step === 1);
  }, 15_000, 'the first step sent and the second one waiting');

  const page = await signIn(h.apiKey);
  await page.goto(`${herald}/console/#/users/lin`);
  const listed = page.locator(`#notifications tr[data-notification="${chain.id}"]`);
  await seen(page, listed.locator('li[data-step="1"]').getByText('webhook/webhook · step 1'));
  assert.match(await listed.locator('li[data-step="0"]').textContent() ?? '', /inbox\/inbox · step 0/);

  await page.goto(`${herald}/console/#/notifications/${chain.id}`);
  const waiting = page.locator('#deliveries tr[data-status="pending"]');
  await waiting.waitFor();
  assert.equal(await waiting.locator('td[data-step]').getAttribute('data-step'), '1');
  assert.match(await waiting.locator('td[data-step]').textContent() ?? '', /^1\s*after 1h$/);
  assert.equal(await page.locator('#deliveries tr[data-status="sent"] td[data-step]').textContent(), '0');
  assert.match(await page.locator('#steps li[data-step="1"]').textContent() ?? '', /1: webhook after 1h unless read\s+waiting/);
  await session!.screenshot(page, 'console-notification-steps');

  // The first step went out; Cancel still stops the waiting one.
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('status').filter({ hasText: 'Cancelled.' }).waitFor();
  await page.locator('#deliveries tr[data-status="cancelled"] td[data-step="1"]').waitFor();
  await page.locator('#deliveries tr[data-status="sent"] td[data-step="0"]').waitFor();
  assert.deepEqual(session!.errors(page), []);
});

test('the apps page shows channels, problems and the VAPID key; templates are edited and previewed', { skip }, async () => {
  await h.db.pool.query(`INSERT INTO apps (id, name, status) VALUES ('acme', 'Acme', '{"apns": {"problem": "APNs refused the key: ExpiredProviderToken", "at": "2026-12-05T12:00:00Z"}}')
                         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status`);
  await post('/v1/apps/acme', { name: 'Acme' }, 'PUT').catch(() => undefined);
  await h.db.pool.query(`UPDATE apps SET status = '{"apns": {"problem": "APNs refused the key: ExpiredProviderToken", "at": "2026-12-05T12:00:00Z"}}' WHERE id = 'acme'`);
  const page = await signIn(h.apiKey);
  await page.getByRole('link', { name: 'Apps' }).click();
  await page.locator('[data-app="acme"] .problems').getByText('ExpiredProviderToken').waitFor();
  await page.locator('[data-app="default"] tr[data-channel="webhook"]').getByText('configured').waitFor();
  await session!.screenshot(page, 'console-apps');

  await post('/v1/apps/default/templates/welcome', { variables: { name: { type: 'string', required: true } }, locales: { en: { inbox: { title: 'Welcome, {name}' } } } }, 'PUT');
  await page.getByRole('link', { name: 'Templates' }).click();
  await page.locator('#templates').getByRole('link', { name: 'welcome' }).click();
  await page.getByRole('heading', { name: /Template welcome/ }).waitFor();
  const definition = page.locator('#definition');
  await eventually(async () => (await definition.inputValue()).includes('Welcome, {name}'), 10_000, 'the definition');
  await definition.fill((await definition.inputValue()).replace('Welcome, {name}', 'Hello again, {name}'));
  await page.getByRole('button', { name: 'Save new version' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved as version 2.' }).waitFor();
  await page.getByLabel('Sample data (JSON)').fill('{"name": "Ada"}');
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.locator('#preview').getByText('Hello again, Ada').waitFor();
  await session!.screenshot(page, 'console-template');
  assert.deepEqual(session!.errors(page), []);
});

test('the topics page lists topics with their subscriber counts, and a topic its subscribers', { skip }, async () => {
  await post('/v1/users/topic-fan-1', { name: 'Fan One' }, 'PUT');
  await post('/v1/users/topic-fan-2', { name: 'Fan Two' }, 'PUT');
  await post('/v1/topics/match-started', { name: 'Match started' }, 'PUT');
  await post('/v1/topics/match-started/subscribers', { userIds: ['topic-fan-1', 'topic-fan-2'] });
  const page = await signIn(h.apiKey);
  await page.getByRole('link', { name: 'Topics' }).click();
  const row = page.locator('#topics tr[data-topic="match-started"]');
  await row.getByText('Match started').waitFor();
  assert.equal((await row.locator('td.num').innerText()).trim(), '2');
  await row.getByRole('link', { name: 'match-started' }).click();
  await page.locator('#subscribers').getByRole('link', { name: 'topic-fan-2' }).waitFor();
  await session!.screenshot(page, 'console-topics');
  assert.deepEqual(session!.errors(page), []);
});

test('a list longer than a page shows the rest a page at a time with More', { skip }, async () => {
  const fans = Array.from({ length: 60 }, (_, i) => `paged-fan-${String(i).padStart(2, '0')}`);
  for (const id of fans) await post(`/v1/users/${id}`, {}, 'PUT');
  await post('/v1/topics/paged', { name: 'Paged' }, 'PUT');
  await post('/v1/topics/paged/subscribers', { userIds: fans });
  const page = await signIn(h.apiKey);
  await page.getByRole('link', { name: 'Topics' }).click();
  await page.locator('#topics tr[data-topic="paged"]').getByRole('link', { name: 'paged' }).click();
  const rows = page.locator('#subscribers tbody tr');
  await page.getByRole('button', { name: 'More' }).waitFor();
  assert.equal(await rows.count(), 50);
  await page.getByRole('button', { name: 'More' }).click();
  await page.getByRole('button', { name: 'More' }).waitFor({ state: 'detached' });
  assert.equal(await rows.count(), 60);
  assert.deepEqual(session!.errors(page), []);
});
