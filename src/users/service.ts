import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { HeraldError, notFound, validation } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import type { DomainHooks } from '../core/hooks.ts';
import { checkZone } from '../db/time-zone.ts';
import { checkQuietHours } from '../core/quiet-hours.ts';
import { findUser, replaceUser, type User, type UserFields } from './repository.ts';
import { eraseUser } from '../privacy/erasure.ts';
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
    await checkZone(this.#pool, fields.timezone, 'body.timezone');
    checkQuietHours(fields.quietHours, 'body.quietHours');
    checkQuietHours(fields.sendWindow, 'body.sendWindow');
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

  /**
   * Erases the user (docs/privacy.md): the engine cancels what is pending, then every table
   * gives up what it holds about them (src/privacy/erasure.ts), in one transaction. What is left
   * is one tombstone event, `user:deleted` with the id and nothing else, so event consumers learn
   * of it.
   */
  async delete(id: string): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      const user = await findUser(client, id, true);
      if (!user) throw notFound('user', id);
      await this.#hooks().userDeleted(client, id);
      await eraseUser(client, id, user.email ?? null);
      await appendEvent(client, { userId: id, type: 'user:deleted', itemType: 'user', itemId: id, data: {} });
    });
  }
}
