import assert from 'node:assert/strict';
import type { TestHarness } from './app.ts';

/** A delivery as the notification view shows it, with what the timing rules decided. */
export interface TimedDelivery { channel: string; status: string; dueAt: string; deferredBy: string | null; userId?: string; sentAt?: string }

/**
 * What the timing-rule tests ask of the API: send a notification (title and channels defaulted),
 * read its deliveries, and each channel's [dueAt, deferredBy] of a one-user notification. The
 * harness is passed as a getter: test files create it in `before`.
 */
export function timingRequests(harness: () => TestHarness, defaults: { channels: string[] }) {
  async function send(body: object): Promise<string> {
    const res = await harness().request({ method: 'POST', url: '/v1/notifications', payload: { title: 'Hello', channels: defaults.channels, ...body } });
    assert.equal(res.statusCode, 202, res.body);
    return res.json().id;
  }
  async function deliveries(id: string): Promise<TimedDelivery[]> {
    const res = await harness().request({ url: `/v1/notifications/${id}` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().deliveries;
  }
  async function timing(id: string): Promise<Record<string, [string, string | null]>> {
    return Object.fromEntries((await deliveries(id)).map((d) => [d.channel, [d.dueAt, d.deferredBy]]));
  }
  return { send, deliveries, timing };
}
