import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outcomeOf, skipOutcome } from '../src/dispatch/outcome.ts';
import { backoffDelay, DEFAULT_BACKOFF } from '../src/dispatch/backoff.ts';
import { AppProblemTracker } from '../src/dispatch/app-problems.ts';
import type { ClaimedDelivery } from '../src/dispatch/repository.ts';
import type { AppChannel } from '../src/apps/types.ts';
import { MAX_RETRY_AFTER_MS } from '../src/channels/retry-after.ts';
import { createLogger } from '../src/log/index.ts';

/** The engine's pure rules, without a database: skip rules, verdict → outcome, backoff, app problems. */

function job(over: Partial<ClaimedDelivery> = {}): ClaimedDelivery {
  return {
    id: '42',
    notificationId: 'n1',
    provider: 'webhook',
    appId: 'default',
    attempt: 1,
    dueAt: new Date(),
    expiresAt: undefined,
    user: undefined,
    device: undefined,
    content: { title: 't' },
    userId: 'u1',
    deviceId: null,
    channel: 'webhook',
    ...over,
  };
}

test('skip rules: a cancelled notification or a gone device is cancelled, a passed TTL expired, anything else is sent', () => {
  const now = Date.now();
  assert.deepEqual(skipOutcome(job({ skipReason: 'the device was removed' }), now), { id: '42', kind: 'cancelled', error: 'the device was removed' });
  assert.equal(skipOutcome(job({ expiresAt: new Date(now) }), now)?.kind, 'expired', 'a TTL ending now has passed');
  assert.equal(skipOutcome(job({ expiresAt: new Date(now + 1) }), now), undefined);
  assert.equal(skipOutcome(job(), now), undefined);
  assert.equal(skipOutcome(job({ skipReason: 'the notification was cancelled', expiresAt: new Date(now - 1) }), now)?.kind, 'cancelled', 'cancelled wins over expired');
});

test('verdict → outcome: sent, failed and device-invalid map straight; a raw-device target has no device to invalidate', () => {
  assert.deepEqual(outcomeOf(job(), { status: 'sent', providerId: 'p1' }, 5), { id: '42', kind: 'sent', providerId: 'p1' });
  assert.deepEqual(outcomeOf(job(), { status: 'failed', error: 'e', detail: 'd' }, 5), { id: '42', kind: 'failed', error: 'e', detail: 'd' });
  assert.deepEqual(outcomeOf(job({ deviceId: 'd1' }), { status: 'device-invalid', error: 'gone' }, 5), { id: '42', kind: 'device-invalid', error: 'gone', detail: undefined, deviceId: 'd1' });
  assert.equal(outcomeOf(job({ deviceId: null }), { status: 'device-invalid', error: 'gone' }, 5).kind, 'failed');
});

test('verdict → outcome: a retry past the attempt limit fails; one whose next attempt falls after the TTL expires', () => {
  const last = outcomeOf(job({ attempt: 5 }), { status: 'retry', error: 'busy' }, 5);
  assert.equal(last.kind, 'failed');
  assert.match((last as { error: string }).error, /gave up after 5 attempts: busy/);
  const ttl = outcomeOf(job({ attempt: 1, expiresAt: new Date(Date.now() + 60_000) }), { status: 'retry', error: 'busy', retryAfterMs: 120_000 }, 5);
  assert.equal(ttl.kind, 'expired');
  const retry = outcomeOf(job({ attempt: 1, expiresAt: new Date(Date.now() + 600_000) }), { status: 'retry', error: 'busy', retryAfterMs: 120_000 }, 5);
  assert.deepEqual(retry, { id: '42', kind: 'retry', error: 'busy', detail: undefined, delayMs: 120_000 });
});

test("verdict → outcome: a provider's Retry-After is clamped; without one the backoff decides", () => {
  const huge = outcomeOf(job(), { status: 'retry', error: 'later', retryAfterMs: 365 * 24 * 3600_000 }, 5);
  assert.equal((huge as { delayMs: number }).delayMs, MAX_RETRY_AFTER_MS);
  const negative = outcomeOf(job(), { status: 'retry', error: 'later', retryAfterMs: -5 }, 5);
  assert.equal((negative as { delayMs: number }).delayMs, 0);
  const policy = { baseMs: 100, capMs: 1000 };
  for (let i = 0; i < 20; i++) {
    const d = (outcomeOf(job({ attempt: 3 }), { status: 'retry', error: 'x' }, 5, policy) as { delayMs: number }).delayMs;
    assert.ok(d >= 200 && d <= 400, `attempt 3 waited ${d} ms`);
  }
});

test('backoff: base·2^(n−1) capped, then 50–100 % of it (equal jitter)', () => {
  const policy = { baseMs: 1000, capMs: 10_000 };
  assert.equal(backoffDelay(1, policy, () => 0), 500);
  assert.equal(backoffDelay(1, policy, () => 1), 1000);
  assert.equal(backoffDelay(3, policy, () => 1), 4000);
  assert.equal(backoffDelay(3, policy, () => 0), 2000);
  assert.equal(backoffDelay(10, policy, () => 1), 10_000, 'capped');
  assert.equal(backoffDelay(10, policy, () => 0), 5_000);
  assert.equal(backoffDelay(0, policy, () => 1), 1000, 'attempt 0 is treated as the first');
  assert.equal(backoffDelay(50, DEFAULT_BACKOFF, () => 1), DEFAULT_BACKOFF.capMs);
});

class RecordingStore {
  readonly writes: Array<[string, AppChannel, string | undefined]> = [];
  fail = false;
  async reportProblem(appId: string, channel: AppChannel, problem: string | undefined): Promise<void> {
    if (this.fail) throw new Error('database down');
    this.writes.push([appId, channel, problem]);
  }
}

test('app problems: recorded once per change, for every channel including webhooks; a success clears once', async () => {
  const store = new RecordingStore();
  const tracker = new AppProblemTracker(store, createLogger('silent'));
  const broken = { status: 'failed', error: 'no URL', appProblem: 'no webhook URL configured' } as const;
  await tracker.track('a1', 'webhook', { status: 'sent' });
  assert.deepEqual(store.writes, [], 'a healthy app costs no write');
  for (let i = 0; i < 100; i++) await tracker.track('a1', 'webhook', broken);
  await Promise.all(Array.from({ length: 50 }, () => tracker.track('a1', 'webhook', broken)));
  assert.deepEqual(store.writes, [['a1', 'webhook', 'no webhook URL configured']], 'the same problem on 150 deliveries is one write');
  await tracker.track('a1', 'webhook', { status: 'retry', error: 'webhook answered 503' });
  assert.equal(store.writes.length, 1, 'a retry without an app problem changes nothing');
  await tracker.track('a1', 'webhook', { status: 'retry', error: 'x', appProblem: 'another problem' });
  await tracker.track('a1', 'apns', { status: 'failed', error: 'x', appProblem: 'no APNs key' });
  await tracker.track('a2', 'webhook', broken);
  await tracker.track('a1', 'webhook', { status: 'sent' });
  await tracker.track('a1', 'webhook', { status: 'sent' });
  await tracker.track('a1', 'inbox', { status: 'failed', error: 'x', appProblem: 'never an app problem' });
  assert.deepEqual(store.writes, [
    ['a1', 'webhook', 'no webhook URL configured'],
    ['a1', 'webhook', 'another problem'],
    ['a1', 'apns', 'no APNs key'],
    ['a2', 'webhook', 'no webhook URL configured'],
    ['a1', 'webhook', undefined],
  ]);
});

test('app problems: a write that fails is tried again on the next verdict', async () => {
  const store = new RecordingStore();
  const tracker = new AppProblemTracker(store, createLogger('silent'));
  const broken = { status: 'failed', error: 'x', appProblem: 'FCM is not configured' } as const;
  store.fail = true;
  await tracker.track('a1', 'fcm', broken);
  store.fail = false;
  await tracker.track('a1', 'fcm', broken);
  await tracker.track('a1', 'fcm', broken);
  assert.deepEqual(store.writes, [['a1', 'fcm', 'FCM is not configured']]);
});
