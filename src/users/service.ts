import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { HeraldError, notFound, validation } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import type { DomainHooks } from '../core/hooks.ts';
import { isValidTimeZone } from '../core/time-zone.ts';
import { findUser, replaceUser, lockUser, deleteUser, type User, type UserFields } from './repository.ts';
import { isSingleMailbox } from './email.ts';

export interface PutOptions {
  /**
   * The user edits their own profile (`PUT /v1/me`). E-mail is sent from the app's own sender,
   * so an address a user could set freely would let them mail anyone with the app's name on it
   * (and their own text in it). Herald has no address-verification flow, so a user may keep the
   * stored address, clear it, or set the one their credentials vouch for (`vouchedEmail`, the
   * JWT's `email` claim or the gateway's header) — nothing else.
   */
  readonly self?: { readonly vouchedEmail?: string | undefined } | undefined;
}

/** Users: create or replace, read, delete. Each change commits with its event. */
export class UserService {
  readonly #pool: Pool;
  readonly #hooks: () => DomainHooks;

  /** `hooks` is asked on every call, so whoever builds the services decides which hooks run when. */
  constructor(pool: Pool, hooks: () => DomainHooks) {
    this.#pool = pool;
    this.#hooks = hooks;
  }

  async get(id: string): Promise<User> {
    const user = await findUser(this.#pool, id);
    if (!user) throw notFound('user', id);
    return user;
  }

  async put(id: string, fields: UserFields, options: PutOptions = {}): Promise<{ user: User; created: boolean }> {
    if (fields.timezone && !isValidTimeZone(fields.timezone)) {
      throw new HeraldError('INVALID_TIMEZONE', `timezone "${fields.timezone}" is not an IANA time zone (e.g. Europe/Berlin)`, [{ field: 'body.timezone', message: 'not an IANA time zone' }]);
    }
    const email = fields.email ?? undefined;
    if (email !== undefined && !isSingleMailbox(email)) {
      throw validation('body.email: must be one e-mail address (local@domain, no name, no list)', [{ field: 'body.email', message: 'must be one e-mail address (local@domain, no name, no list)' }]);
    }
    return withTransaction(this.#pool, async (client) => {
      if (options.self && email !== undefined && email !== options.self.vouchedEmail && email !== (await findUser(client, id, true))?.email) {
        throw new HeraldError('PERMISSION_DENIED', 'An end user cannot change their e-mail address; the application’s server sets it (PUT /v1/users/{userId}).', [{ field: 'body.email', message: 'may only be the current address or the one the token carries' }]);
      }
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
