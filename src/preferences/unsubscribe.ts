import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import { notFound } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import type { Keyring } from '../core/keyring.ts';

/**
 * One-click unsubscribe links for e-mail (RFC 8058; docs/audiences.md). A token names one
 * e-mail delivery and an expiry, signed with HMAC-SHA256 (truncated to 128 bits) under a key
 * derived from HERALD_SECRET_KEY (never the sealing key itself): 28 bytes, 38 characters in the
 * URL, and no user id or e-mail address in it. The delivery says who, which app and which type,
 * so nobody can forge a link for another user or type. Used links are recorded: each works once.
 * Anything wrong with a token — bad encoding, bad signature, expired, used, its delivery gone, its
 * type gone or now required — is the same 404, so the answer tells a prober nothing. Links are
 * signed under the current HERALD_SECRET_KEY and checked under it and HERALD_SECRET_KEYS_PREVIOUS,
 * so a key rotation does not break the links in e-mails already sent.
 */
export interface UnsubscribeClaim {
  readonly deliveryId: string;
  readonly expiresAt: Date;
}

const PAYLOAD = 12; // delivery id (8 bytes) | expiry, epoch seconds (4 bytes)
const MAC = 16;

export class UnsubscribeLinks {
  /** MAC keys derived from the keyring's keys, current first: sign with the first, accept any. */
  readonly #keys: readonly Buffer[];
  readonly #publicUrl: string | undefined;
  readonly #days: number;

  constructor(keyring: Keyring, options: { publicUrl: string | undefined; days: number }) {
    this.#keys = keyring.keys.map((k) => Buffer.from(hkdfSync('sha256', k.key, 'herald', 'one-click unsubscribe v1', 32)));
    this.#publicUrl = options.publicUrl;
    this.#days = options.days;
  }

  /** Whether links can be made at all (HERALD_PUBLIC_URL is set). */
  get enabled(): boolean {
    return this.#publicUrl !== undefined;
  }

  #mac(payload: Buffer, key = this.#keys[0]!): Buffer {
    return createHmac('sha256', key).update(payload).digest().subarray(0, MAC);
  }

  token(deliveryId: string, now = new Date()): string {
    const payload = Buffer.alloc(PAYLOAD);
    payload.writeBigUInt64BE(BigInt(deliveryId), 0);
    payload.writeUInt32BE(Math.floor(now.getTime() / 1000) + this.#days * 86_400, 8);
    return Buffer.concat([payload, this.#mac(payload)]).toString('base64url');
  }

  /** The link for an e-mail delivery, or undefined without HERALD_PUBLIC_URL. */
  url(deliveryId: string, now = new Date()): string | undefined {
    return this.#publicUrl === undefined ? undefined : `${this.#publicUrl}/v1/unsubscribe/${this.token(deliveryId, now)}`;
  }

  /** The claim of a genuine, unexpired token; undefined for anything else. */
  verify(token: string, now = new Date()): UnsubscribeClaim | undefined {
    if (!/^[A-Za-z0-9_-]{38}$/.test(token)) return undefined;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length !== PAYLOAD + MAC) return undefined;
    const payload = raw.subarray(0, PAYLOAD);
    const mac = raw.subarray(PAYLOAD);
    if (!this.#keys.some((key) => timingSafeEqual(mac, this.#mac(payload, key)))) return undefined;
    const expires = payload.readUInt32BE(8) * 1000;
    if (expires <= now.getTime()) return undefined;
    return { deliveryId: payload.readBigUInt64BE(0).toString(), expiresAt: new Date(expires) };
  }
}

/** Apply a one-click unsubscribe: that type's e-mail off for that user, once per link. */
export async function unsubscribe(pool: Pool, links: UnsubscribeLinks, token: string): Promise<{ appId: string; type: string }> {
  const claim = links.verify(token);
  const gone = notFound('unsubscribe link');
  if (!claim) throw gone;
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ user_id: string; app_id: string; type: string }>(
      `SELECT d.user_id, n.app_id, n.type FROM deliveries d JOIN notifications n ON n.id = d.notification_id
        JOIN notification_types t ON t.app_id = n.app_id AND t.key = n.type AND NOT t.required
        JOIN users u ON u.id = d.user_id
        WHERE d.id = $1 AND d.channel = 'email'
        FOR KEY SHARE OF u`,
      [claim.deliveryId],
    );
    const target = rows[0];
    if (!target) throw gone;
    const used = await client.query(
      `INSERT INTO unsubscribe_uses (nonce, app_id, user_id, type_key, expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (nonce) DO NOTHING`,
      [claim.deliveryId, target.app_id, target.user_id, target.type, claim.expiresAt],
    );
    if (used.rowCount !== 1) throw gone;
    await client.query(
      `INSERT INTO user_type_preferences (app_id, user_id, type_key, channels) VALUES ($1, $2, $3, '{"email": false}')
       ON CONFLICT (app_id, user_id, type_key) DO UPDATE SET channels = user_type_preferences.channels || '{"email": false}', updated_at = now()`,
      [target.app_id, target.user_id, target.type],
    );
    await appendEvent(client, { userId: target.user_id, type: 'preferences:updated', itemType: 'preferences', itemId: `${target.app_id}/${target.user_id}`, data: { appId: target.app_id, types: { [target.type]: { email: false } }, via: 'one-click-unsubscribe' } });
    return { appId: target.app_id, type: target.type };
  });
}
