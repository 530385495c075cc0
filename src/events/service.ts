import type { Pool } from '../db/pool.ts';
import { listAuditEvents, listUserEvents, type AuditEvent, type StoredEvent } from './repository.ts';

/** The user's event history, paged by cursor: `next` is given when more may follow. */
export class EventService {
  readonly #pool: Pool;
  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async list(userId: string, after: string | undefined, limit: number): Promise<{ items: StoredEvent[]; next?: string }> {
    const items = await listUserEvents(this.#pool, userId, after, limit);
    const last = items.at(-1);
    return items.length === limit && last ? { items, next: last.id } : { items };
  }

  /** Administrative actions with their actors (GET /v1/audit). */
  async audit(filter: { after?: string | undefined; limit: number; actor?: string | undefined; itemType?: string | undefined }): Promise<{ items: AuditEvent[]; next?: string }> {
    const items = await listAuditEvents(this.#pool, filter);
    const last = items.at(-1);
    return items.length === filter.limit && last ? { items, next: last.id } : { items };
  }
}
