import { createECDH, createPrivateKey, sign, type KeyObject } from 'node:crypto';

/**
 * VAPID (RFC 8292): each request carries `Authorization: vapid t=<JWT>, k=<public key>`, the JWT
 * signed ES256 by the app's key with `aud` = the push service's origin, `exp` ≤ 24 h ahead and
 * `sub` = a contact URI. The JWT depends only on (key, origin, subject), so it is signed once and
 * reused until an hour before it expires, instead of once per message.
 */
const LIFETIME_S = 12 * 3600;
const RENEW_BEFORE_S = 3600;

export interface VapidKeys {
  readonly publicKey: string;
  readonly privateKey: string;
}

/** A new P-256 key pair, base64url: public = uncompressed point (65 bytes), private = d (32 bytes). */
export function generateVapidKeys(): VapidKeys {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  // getPrivateKey() drops leading zero bytes (1 key in 256): keys are always 32 bytes on the wire.
  return { publicKey: ecdh.getPublicKey().toString('base64url'), privateKey: leftPad32(ecdh.getPrivateKey()).toString('base64url') };
}

function leftPad32(d: Buffer): Buffer {
  return d.length >= 32 ? d : Buffer.concat([Buffer.alloc(32 - d.length), d]);
}

export function vapidPrivateKey(keys: VapidKeys): KeyObject {
  const pub = Buffer.from(keys.publicKey, 'base64url');
  // Tolerate keys from tools that dropped leading zero bytes.
  const d = leftPad32(Buffer.from(keys.privateKey, 'base64url'));
  if (pub.length !== 65 || pub[0] !== 0x04 || d.length !== 32) {
    throw new Error('VAPID keys must be base64url: a 65-byte uncompressed P-256 public key and a 32-byte private key');
  }
  return createPrivateKey({
    format: 'jwk',
    key: { kty: 'EC', crv: 'P-256', x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url'), d: d.toString('base64url') },
  });
}

export class VapidSigner {
  readonly #keys = new Map<string, KeyObject>();
  readonly #headers = new Map<string, { value: string; renewAt: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The Authorization header value for a push service origin. Throws on unusable keys. */
  authorization(keys: VapidKeys, subject: string, audience: string): string {
    const cacheKey = `${keys.publicKey}\n${subject}\n${audience}`;
    const now = Math.floor(this.#now() / 1000);
    const cached = this.#headers.get(cacheKey);
    if (cached && cached.renewAt > now) return cached.value;

    let key = this.#keys.get(keys.privateKey);
    if (!key) {
      key = vapidPrivateKey(keys);
      this.#keys.set(keys.privateKey, key);
    }
    const header = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ES256' })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ aud: audience, exp: now + LIFETIME_S, sub: subject })).toString('base64url');
    const input = `${header}.${claims}`;
    // JWS ES256 wants the raw r||s signature, not DER (RFC 7518 §3.4).
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    const value = `vapid t=${input}.${signature}, k=${keys.publicKey}`;
    this.#headers.set(cacheKey, { value, renewAt: now + LIFETIME_S - RENEW_BEFORE_S });
    return value;
  }
}
