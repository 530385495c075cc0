import pg from 'pg';
import type { Pool } from './pool.ts';
import type { Logger } from '../log/index.ts';

/**
 * One dedicated connection for LISTEN, reconnecting after failures. Because notifications sent
 * while it was down are lost, `onReconnect` handlers run after every (re)connect so their owner
 * can re-check the table instead of waiting for the next NOTIFY.
 */
export class Listener {
  readonly #pool: Pool;
  readonly #log: Logger;
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();
  readonly #reconnectHandlers = new Set<() => void>();
  #client: pg.Client | undefined;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;

  constructor(pool: Pool, log: Logger) {
    this.#pool = pool;
    this.#log = log;
  }

  async listen(channel: string, handler: (payload: string) => void): Promise<void> {
    let set = this.#handlers.get(channel);
    if (!set) {
      set = new Set();
      this.#handlers.set(channel, set);
      if (this.#client) await this.#client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    set.add(handler);
    if (!this.#client) await this.#connect();
  }

  onReconnect(handler: () => void): void {
    this.#reconnectHandlers.add(handler);
  }

  #connect(): Promise<void> {
    this.#connecting ??= (async () => {
      const client = new pg.Client({ ...(this.#pool.options as pg.ClientConfig), application_name: 'herald:listen' });
      client.on('notification', (msg) => {
        for (const h of this.#handlers.get(msg.channel) ?? []) {
          try {
            h(msg.payload ?? '');
          } catch (err) {
            this.#log.error({ err }, 'notification handler failed');
          }
        }
      });
      client.on('error', (err) => {
        this.#log.warn({ err }, 'listen connection failed');
        this.#lost(client);
      });
      client.on('end', () => this.#lost(client));
      try {
        await client.connect();
        for (const channel of this.#handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        if (this.#closed) {
          await client.end().catch(() => undefined);
          return;
        }
        this.#client = client;
        for (const h of this.#reconnectHandlers) h();
      } catch (err) {
        this.#log.warn({ err }, 'listen connection could not be opened; retrying');
        await client.end().catch(() => undefined);
        this.#scheduleReconnect();
      }
    })().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, 1000);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}
