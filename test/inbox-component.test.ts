import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import type { Page } from 'playwright-core';
import { createHarness, TEST_JWT_SECRET, type TestHarness } from './helpers/app.ts';
import { startEngine, eventually, ROOT, type RunningEngine } from './helpers/engine.ts';
import { browserSkip, launchBrowser, serveStatic, axeViolations, type BrowserSession } from './helpers/browser.ts';
import { ASSETS_DIR } from '../src/api/routes/assets.ts';

/**
 * <herald-inbox> in headless Chromium, as an app embeds it: examples/inbox.html served from its
 * own origin loads the component from herald (/assets/herald-inbox.js) and talks to a real
 * herald (API and worker in this process, CORS allowing the page's origin) with a user JWT.
 */
const skip = browserSkip();
let h: TestHarness;
let engine: RunningEngine;
let herald: string;
let site: Awaited<ReturnType<typeof serveStatic>>;
let session: BrowserSession | undefined;

before(async () => {
  site = await serveStatic(path.join(ROOT, 'examples'));
  h = await createHarness({ HERALD_CORS_ORIGINS: site.url });
  herald = await h.app.listen({ port: 0, host: '127.0.0.1' });
  engine = await startEngine(h);
  if (!skip) session = await launchBrowser();
});
after(async () => {
  await session?.close();
  await engine.stop();
  await h.close();
  await site.close();
});

const tokenFor = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('10m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

async function send(userId: string, title: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await h.request({ method: 'POST', url: '/v1/notifications', payload: { to: { userId }, title, channels: ['inbox'], ...extra } });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id as string;
}

async function inbox(userId: string): Promise<{ items: Array<{ id: string; title: string; readAt: string | null; notificationId: string }>; unread: number }> {
  return (await h.request({ url: `/v1/users/${userId}/inbox` })).json();
}

async function itemOf(userId: string, notificationId: string) {
  return eventually(async () => (await inbox(userId)).items.find((i) => i.notificationId === notificationId), 15_000, `the inbox item of ${notificationId}`);
}

/**
 * What has focus inside the component's shadow root: its accessible name (aria-label or text)
 * and, for a list row, its data-id. (Runs in the page; typed locally, the tests have no DOM lib.)
 */
interface Focusable {
  getAttribute(name: string): string | null;
  textContent: string | null;
  dataset: Record<string, string | undefined>;
}
const activeInInbox = (page: Page) =>
  page.evaluate(() => {
    const doc = (globalThis as unknown as { document: { querySelector(s: string): { shadowRoot: { activeElement: Focusable | null } | null } | null } }).document;
    const el = doc.querySelector('herald-inbox')?.shadowRoot?.activeElement;
    return el ? { name: el.getAttribute('aria-label') ?? el.textContent?.trim() ?? '', id: el.dataset.id ?? null } : null;
  });
const focused = async (page: Page) => (await activeInInbox(page))?.name ?? null;
const focusedRow = async (page: Page) => (await activeInInbox(page))?.id ?? null;

async function openExample(userId: string): Promise<Page> {
  const page = await session!.page();
  const token = await tokenFor(userId);
  await page.goto(`${site.url}/inbox.html#herald=${encodeURIComponent(herald)}&token=${encodeURIComponent(token)}`);
  await page.locator('herald-inbox[live]').waitFor();
  return page;
}

test('the component is built and served by herald', () => {
  assert.ok(existsSync(path.join(ASSETS_DIR, 'herald-inbox.js')), 'packages/inbox/dist/herald-inbox.js exists: run `npm run build`');
});

test('packages/inbox/README.md documents every --herald-inbox-* property the component reads', () => {
  const styles = readFileSync(path.join(ROOT, 'packages/inbox/src/styles.ts'), 'utf8');
  const readme = readFileSync(path.join(ROOT, 'packages/inbox/README.md'), 'utf8');
  const used = new Set([...styles.matchAll(/var\((--herald-inbox-[a-z-]+)/g)].map((m) => m[1]!));
  assert.ok(used.size >= 10);
  assert.deepEqual([...used].filter((p) => !readme.includes(`\`${p}\``)), [], 'add these to the theming table of the README');
});

test('<herald-inbox> shows a new item live; click and keyboard mark items read in herald', { skip }, async () => {
  await h.request({ method: 'PUT', url: '/v1/users/ada', payload: { name: 'Ada' } });
  const welcome = await itemOf('ada', await send('ada', 'Welcome to Acme', { body: 'Glad to have you.' }));
  const page = await openExample('ada');
  const bell = page.locator('herald-inbox button.bell');
  const badge = page.locator('herald-inbox .badge');
  await assert.doesNotReject(badge.filter({ hasText: /^1$/ }).waitFor(), 'the badge counts the unread item');
  assert.equal(await bell.getAttribute('aria-label'), 'Notifications, 1 unread');
  assert.equal(await bell.getAttribute('aria-expanded'), 'false');

  await bell.click();
  assert.equal(await bell.getAttribute('aria-expanded'), 'true');
  await page.locator('herald-inbox li', { hasText: 'Welcome to Acme' }).waitFor();
  assert.equal(await focused(page), 'Notifications', 'opening moves focus to the panel heading');

  // A notification sent now arrives over the stream: list, badge and the live region update.
  const shipped = await send('ada', 'Your order shipped', { body: 'It arrives on Tuesday.', url: 'https://acme.example/orders/42' });
  await page.locator('herald-inbox li', { hasText: 'Your order shipped' }).waitFor();
  await badge.filter({ hasText: /^2$/ }).waitFor();
  assert.equal(await page.locator('herald-inbox [role=status]').textContent(), 'New notification: Your order shipped');
  assert.deepEqual(await page.locator('herald-inbox li .title').allTextContents(), ['Unread: Your order shipped', 'Unread: Welcome to Acme'], 'newest first');
  await session!.screenshot(page, 'inbox-open-two-unread');

  // Click "Mark read" on the new item: herald records it.
  await page.getByRole('button', { name: 'Mark read: Your order shipped' }).click();
  const shippedItem = await itemOf('ada', shipped);
  await eventually(async () => (await inbox('ada')).items.find((i) => i.id === shippedItem.id)?.readAt, 10_000, 'herald to record the click');
  await badge.filter({ hasText: /^1$/ }).waitFor();
  assert.equal(await focusedRow(page), shippedItem.id, 'focus stays on the item whose button went away');

  // Keyboard only: from the heading, Tab to "Mark all read", Tab to the remaining item's button, Enter.
  await page.locator('herald-inbox #heading').focus();
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'Mark all read');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'Mark read: Welcome to Acme', 'Tab reaches the item’s button (after the link of the read item)');
  await page.keyboard.press('Enter');
  await eventually(async () => (await inbox('ada')).items.find((i) => i.id === welcome.id)?.readAt, 10_000, 'herald to record the key press');
  await badge.waitFor({ state: 'detached' });
  assert.equal(await bell.getAttribute('aria-label'), 'Notifications');
  assert.equal((await inbox('ada')).unread, 0);

  // Escape closes the panel and gives focus back to the bell.
  await page.keyboard.press('Escape');
  assert.equal(await bell.getAttribute('aria-expanded'), 'false');
  assert.equal(await focused(page), 'Notifications');
  await session!.screenshot(page, 'inbox-all-read');
  assert.deepEqual(session!.errors(page), []);
});

test('"Mark all read" reaches herald, and ArrowDown/ArrowUp move between items', { skip }, async () => {
  await h.request({ method: 'PUT', url: '/v1/users/grace', payload: { name: 'Grace' } });
  for (const title of ['First', 'Second', 'Third']) await itemOf('grace', await send('grace', title));
  const page = await openExample('grace');
  await page.locator('herald-inbox .badge', { hasText: /^3$/ }).waitFor();
  await page.locator('herald-inbox button.bell').press('Enter');
  await page.locator('herald-inbox li').first().waitFor();
  await page.locator('herald-inbox li').first().focus();
  await page.keyboard.press('ArrowDown');
  assert.equal(await focusedRow(page), (await inbox('grace')).items[1]!.id);
  await page.keyboard.press('End');
  assert.equal(await focusedRow(page), (await inbox('grace')).items[2]!.id);
  await page.keyboard.press('ArrowUp');
  assert.equal(await focusedRow(page), (await inbox('grace')).items[1]!.id);

  const violations = await axeViolations(page, 'herald-inbox');
  assert.deepEqual(violations, [], 'axe-core finds no WCAG A/AA violation in the open inbox');

  await page.getByRole('button', { name: 'Mark all read' }).click();
  await eventually(async () => (await inbox('grace')).unread === 0, 10_000, 'herald to mark everything read');
  await page.locator('herald-inbox .badge').waitFor({ state: 'detached' });
  assert.equal(await focused(page), 'Notifications', 'focus moves to the heading as the button goes away');
  await session!.screenshot(page, 'inbox-mark-all-read');
  assert.deepEqual(session!.errors(page), []);
});

test('an empty inbox says so, then shows its first item as it arrives', { skip }, async () => {
  await h.request({ method: 'PUT', url: '/v1/users/newcomer', payload: {} });
  const page = await openExample('newcomer');
  await page.locator('herald-inbox button.bell').click();
  await page.locator('herald-inbox .status', { hasText: 'You are all caught up.' }).waitFor();
  assert.equal(await page.locator('herald-inbox .badge').count(), 0);
  await send('newcomer', 'First of many');
  await page.locator('herald-inbox li', { hasText: 'First of many' }).waitFor();
  await page.locator('herald-inbox .badge', { hasText: /^1$/ }).waitFor();
  await session!.screenshot(page, 'inbox-first-item');
  assert.deepEqual(session!.errors(page), []);
});
