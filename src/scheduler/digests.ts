import type { Pool, PoolClient } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import { WakeLoop, dueTimePayload, type Next } from '../db/wake-loop.ts';
import { DIGESTS_CHANNEL } from '../db/wakeup.ts';
import { appendEvent } from '../events/outbox.ts';
import { createInTransaction } from '../notifications/service.ts';
import type { NotificationInput } from '../notifications/types.ts';
import type { ChannelName } from '../core/notification.ts';
import { claimDueDigest, closeDigest, msUntilNextDigest, takeItems, type DigestItem, type OpenDigest } from '../notifications/digests.ts';

/** Items a digest lists by name (the first ones); the count and the newest cover the rest. */
export const LISTED_ITEMS = 10;

export type CloseResult = { readonly kind: 'idle' } | { readonly kind: 'closed'; readonly digestId: string; readonly items: number; readonly notificationId: string | null };

/** The variables a digest template can use (docs/timing.md): `{count, plural, one {…} other {…}}` and the rest. */
export function digestVariables(key: string, items: readonly DigestItem[]): Record<string, unknown> {
  const label = (i: DigestItem) => i.title ?? i.body ?? '';
  const listed = items.slice(0, LISTED_ITEMS);
  return {
    count: items.length,
    key,
    first: label(items[0]!),
    newest: label(items.at(-1)!),
    titles: listed.map(label).filter((t) => t !== '').join(', '),
    more: items.length - listed.length,
  };
}

/** The digest notification: herald's own wording, or the digest's template with the digest variables. */
function digestInput(d: OpenDigest, items: readonly DigestItem[], withTemplate: boolean): NotificationInput {
  const vars = digestVariables(d.key, items);
  const listed = items.slice(0, LISTED_ITEMS).map((i) => ({ id: i.id, ...(i.title !== null ? { title: i.title } : {}), ...(i.body !== null ? { body: i.body } : {}), createdAt: i.created_at.toISOString() }));
  const newest = items.at(-1)!;
  return {
    to: { userId: d.user_id },
    ...(d.app_id !== 'default' ? { appId: d.app_id } : {}),
    channels: d.channels as ChannelName[],
    title: items.length === 1 ? '1 new notification' : `${items.length} new notifications`,
    body: `${vars.titles as string}${(vars.more as number) > 0 ? ` and ${vars.more as number} more` : ''}`.slice(0, 10_000) || (vars.newest as string),
    data: {
      digest: {
        key: d.key,
        count: items.length,
        openedAt: d.opened_at.toISOString(),
        items: listed,
        newest: { id: newest.id, ...(newest.title !== null ? { title: newest.title } : {}), ...(newest.body !== null ? { body: newest.body } : {}), createdAt: newest.created_at.toISOString() },
      },
    },
    ...(withTemplate && d.template ? { template: { key: d.template.key, ...(d.template.version !== undefined ? { version: d.template.version } : {}), data: vars } } : {}),
  };
}

/**
 * Closes digests whose window has ended (docs/timing.md, "Digests"), in the scheduler role. Each
 * digest is one transaction: claim it (SKIP LOCKED: any number of schedulers share the work),
 * take its held items (their deliveries become `digested`), create the one notification that
 * lists them through the normal fan-out, close the digest and record `digest:closed`. A process
 * killed mid-way rolls all of it back, so an item is never lost or listed twice. Wakes on NOTIFY
 * when a digest opens and on a timer for the earliest close.
 */
export class DigestCloser {
  readonly #pool: Pool;
  readonly #log: Logger;
  readonly #loop: WakeLoop;

  constructor(pool: Pool, log: Logger) {
    this.#pool = pool;
    this.#log = log.child({ role: 'scheduler', loop: 'digests' });
    this.#loop = new WakeLoop({
      pool,
      log: this.#log,
      channel: DIGESTS_CHANNEL,
      onNotify: dueTimePayload,
      maxSleepMs: 60_000,
      errorMessage: 'closing digests failed; retrying in 1 s',
      round: () => this.#round(),
    });
  }

  start(): Promise<void> {
    return this.#loop.start();
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }

  async #round(): Promise<Next> {
    for (let i = 0; i < 100; i++) {
      if (!this.#loop.running) return 'again';
      if ((await this.closeOne()).kind === 'idle') {
        const ms = await msUntilNextDigest(this.#pool);
        return { until: Date.now() + (ms === null ? 60_000 : Math.min(60_000, Math.max(5, Math.ceil(ms)))) };
      }
    }
    return 'again';
  }

  /** Close one digest whose time has come, in one transaction; idle when none is due. */
  closeOne(): Promise<CloseResult> {
    return withTransaction(this.#pool, async (client) => {
      const d = await claimDueDigest(client);
      if (!d) return { kind: 'idle' } as const;
      const items = await takeItems(client, d);
      let notificationId: string | null = null;
      if (items.length > 0) notificationId = await this.#deliver(client, d, items);
      await closeDigest(client, d.id, items.length, notificationId);
      await appendEvent(client, {
        userId: d.user_id,
        type: 'digest:closed',
        itemType: 'digest',
        itemId: d.id,
        data: { appId: d.app_id, key: d.key, items: items.length, notificationId, itemIds: items.map((i) => i.id) },
      });
      return { kind: 'closed', digestId: d.id, items: items.length, notificationId } as const;
    });
  }

  /**
   * The digest notification, in the closing transaction. A template that no longer takes the
   * digest's variables (changed or deleted since the first item named it) is left out, under a
   * savepoint, and herald's own wording is used: a digest is never held back by its template.
   */
  async #deliver(client: PoolClient, d: OpenDigest, items: readonly DigestItem[]): Promise<string> {
    const options = { source: 'digest' };
    if (d.template) {
      await client.query('SAVEPOINT digest_template');
      try {
        const created = await createInTransaction(client, digestInput(d, items, true), options);
        await client.query('RELEASE SAVEPOINT digest_template');
        return created.id;
      } catch (err) {
        await client.query('ROLLBACK TO SAVEPOINT digest_template');
        this.#log.warn({ err: coerceError(err), digest: d.id, template: d.template.key }, 'the digest template cannot render this digest; sent with herald’s own wording');
      }
    }
    return (await createInTransaction(client, digestInput(d, items, false), options)).id;
  }
}
