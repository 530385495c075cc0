import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { HeraldError, notFound } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import type { DomainHooks } from '../runtime/hooks.ts';
import { isValidTimeZone } from '../reminders/schedule.ts';
import { findUser, replaceUser, lockUser, deleteUser, type User, type UserFields } from './repository.ts';

/** Users: create or replace, read, delete. Each change commits with its event. */
export class UserService {
  readonly #pool: Pool;
  readonly #hooks: () => DomainHooks;

  /** `hooks` is read on every call: the engine installs its hooks after services are built. */
  constructor(pool: Pool, hooks: () => DomainHooks) {
    this.#pool = pool;
    this.#hooks = hooks;
  }

  async get(id: string): Promise<User> {
    const user = await findUser(this.#pool, id);
    if (!user) throw notFound('user', id);
    return user;
  }

  async put(id: string, fields: UserFields): Promise<{ user: User; created: boolean }> {
    if (fields.timezone && !isValidTimeZone(fields.timezone)) {
      throw new HeraldError('INVALID_TIMEZONE', `timezone "${fields.timezone}" is not an IANA time zone (e.g. Europe/Berlin)`, [{ field: 'body.timezone', message: 'not an IANA time zone' }]);
    }
    return withTransaction(this.#pool, async (client) => {
      const result = await replaceUser(client, id, fields);
      await appendEvent(client, { userId: id, type: 'user:updated', itemType: 'user', itemId: id, data: { created: result.created } });
      return result;
    });
  }

  /** Removes the user with their devices and reminders; the engine cancels pending notifications in the same transaction. */
  async delete(id: string): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      if (!(await lockUser(client, id))) throw notFound('user', id);
      await this.#hooks().userDeleted(client, id);
      await deleteUser(client, id);
      await appendEvent(client, { userId: id, type: 'user:deleted', itemType: 'user', itemId: id });
    });
  }
}
