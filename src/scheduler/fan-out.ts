import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import { Listener } from '../db/listener.ts';
import { appendEvent } from '../events/outbox.ts';
import { BROADCASTS_CHANNEL, notifyDeliveriesDue } from '../db/wakeup.ts';
import * as broadcasts from '../notifications/broadcasts.ts';

export interface FanOutOptions {
  /** Recipients per transaction (HERALD_FANOUT_CHUNK_SIZE). */
  readonly chunkSize: number;
}

export type Step = { readonly kind: 'idle' } | { readonly kind: 'chunk'; readonly notificationId: string; readonly users: number; readonly deliveries: number; readonly complete: boolean };

/**
 * The fan-out loop of broadcasts (docs/audiences.md), run by the scheduler role. Each step is one
 * transaction: claim a broadcast that has work (SKIP LOCKED, so processes share the work and one
 * broadcast is advanced by one process at a time), fix its audience on the first step, insert the
 * deliveries of the next chunk of recipients and move the cursor. A process killed mid-chunk
 * loses only that uncommitted chunk; whoever claims the broadcast next redoes it from the
 * committed cursor. Wakes on NOTIFY for new broadcasts and on a timer for scheduled ones.
 */
export class BroadcastFanOut {
  readonly #pool: Pool;
  readonly #log: Logger;
  readonly #options: FanOutOptions;
  readonly #listener: Listener;
  #stopping = false;
  #dirty = true;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(pool: Pool, log: Logger, options: FanOutOptions) {
    this.#pool = pool;
    this.#log = log.child({ role: 'scheduler', loop: 'fan-out' });
    this.#options = options;
    this.#listener = new Listener(pool, this.#log);
  }

  async start(): Promise<void> {
    this.#listener.onReconnect(() => this.#poke());
    await this.#listener.listen(BROADCASTS_CHANNEL, () => this.#poke());
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#poke();
    await this.#loop;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#listener.close();
  }

  #poke(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        this.#dirty = false;
        if ((await this.step()).kind === 'chunk') continue;
        const ms = await broadcasts.msUntilNextBroadcast(this.#pool);
        const delay = ms === null ? 60_000 : Math.min(60_000, Math.max(5, Math.ceil(ms)));
        if (this.#dirty || this.#stopping) continue;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#timer = setTimeout(resolve, delay);
        });
        clearTimeout(this.#timer);
        this.#wake = undefined;
      } catch (err) {
        this.#log.error({ err: coerceError(err) }, 'broadcast fan-out failed; retrying in 1 s');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** One chunk of one broadcast that has work, in one transaction; idle when none has. */
  async step(): Promise<Step> {
    return withTransaction(this.#pool, async (client) => {
      const b = await broadcasts.claimBroadcast(client);
      if (!b) return { kind: 'idle' } as const;
      // Cancelled another way (a reminder's occurrence moved or deleted): nothing more to fan out.
      const { rows } = await client.query<{ cancelled: boolean }>(`SELECT cancelled_at IS NOT NULL AS cancelled FROM notifications WHERE id = $1`, [b.notification_id]);
      if (rows[0]?.cancelled !== false) {
        await broadcasts.setBroadcastStatus(client, b.notification_id, 'cancelled');
        return { kind: 'chunk', notificationId: b.notification_id, users: 0, deliveries: 0, complete: true } as const;
      }
      let audienceAt = b.audience_at;
      if (b.status === 'waiting' || !audienceAt) {
        const started = await broadcasts.startBroadcast(client, b);
        audienceAt = started.audienceAt;
        await appendEvent(client, { userId: null, type: 'notification:fan-out-started', itemType: 'notification', itemId: b.notification_id, data: { recipients: started.recipients, audience: { kind: b.kind, ...(b.topic_key ? { topic: b.topic_key } : {}) } } });
      }
      const size = this.#options.chunkSize;
      const chunk = await broadcasts.fanOutChunk(client, b, audienceAt, size);
      const complete = chunk.users < size;
      await broadcasts.advance(client, b.notification_id, chunk, complete);
      if (chunk.deliveries > 0) await notifyDeliveriesDue(client, new Date());
      if (complete) {
        const done = await broadcasts.getBroadcast(client, b.notification_id);
        await appendEvent(client, { userId: null, type: 'notification:fanned-out', itemType: 'notification', itemId: b.notification_id, data: { recipients: done?.recipients ?? null, fannedOut: done?.fanned_out ?? null, deliveries: done?.deliveries ?? null } });
      }
      return { kind: 'chunk', notificationId: b.notification_id, users: chunk.users, deliveries: chunk.deliveries, complete } as const;
    });
  }
}
