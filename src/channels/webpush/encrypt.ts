import { createCipheriv, createECDH, createHmac, randomBytes } from 'node:crypto';

/**
 * Message encryption for Web Push: the `aes128gcm` content coding (RFC 8188) keyed as RFC 8291
 * describes (https://www.rfc-editor.org/rfc/rfc8291#section-3).
 *
 * Why node:crypto and not the `web-push` package: the package does the same arithmetic (through
 * `http_ece`), but also signs a new VAPID JWT for every message and opens a new HTTPS request
 * without a keep-alive agent. Here the ECDH, HKDF and AES-GCM steps are the few lines below,
 * the JWT is cached per audience (./vapid.ts) and requests reuse pooled connections — and the
 * payload limit can be checked before any work (`MAX_PLAINTEXT_BYTES`).
 */

/** One record of 4096 bytes (RFC 8291 §4: push services must accept at least this): the
 * plaintext, the 0x02 last-record delimiter and the 16-byte GCM tag. */
export const RECORD_SIZE = 4096;
export const MAX_PLAINTEXT_BYTES = RECORD_SIZE - 16 - 1;

export interface SubscriptionKeys {
  /** The user agent's P-256 public key, uncompressed point (65 bytes), base64url. */
  readonly p256dh: string;
  /** The 16-byte authentication secret, base64url. */
  readonly auth: string;
}

export class SubscriptionKeyError extends Error {}

function hmac(key: Buffer, ...data: Buffer[]): Buffer {
  const h = createHmac('sha256', key);
  for (const d of data) h.update(d);
  return h.digest();
}

/** Decode and check the subscription's keys (base64url; browsers' padded base64 also decodes). */
export function decodeKeys(keys: SubscriptionKeys): { publicKey: Buffer; auth: Buffer } {
  const publicKey = Buffer.from(keys.p256dh ?? '', 'base64url');
  const auth = Buffer.from(keys.auth ?? '', 'base64url');
  if (publicKey.length !== 65 || publicKey[0] !== 0x04) throw new SubscriptionKeyError('p256dh is not an uncompressed P-256 public key');
  if (auth.length < 16) throw new SubscriptionKeyError('auth secret is shorter than 16 bytes');
  return { publicKey, auth };
}

/**
 * Encrypt one message for one subscription: a fresh ECDH key pair and salt per message
 * (RFC 8291 §3.1 forbids reuse across messages), one record, body =
 * salt(16) | rs(4) | idlen(1) | keyid = our public key(65) | ciphertext+tag.
 */
export function encryptPayload(plaintext: Buffer, keys: { publicKey: Buffer; auth: Buffer }, salt: Buffer = randomBytes(16)): Buffer {
  if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new RangeError(`payload of ${plaintext.length} bytes exceeds ${MAX_PLAINTEXT_BYTES}`);
  const ecdh = createECDH('prime256v1');
  const serverPublic = ecdh.generateKeys();
  const sharedSecret = ecdh.computeSecret(keys.publicKey);

  // HKDF-Extract/Expand with SHA-256, each output shorter than one hash block, so one HMAC each.
  const prkKey = hmac(keys.auth, sharedSecret);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), keys.publicKey, serverPublic, Buffer.from([1])]);
  const ikm = hmac(prkKey, keyInfo);
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);

  const cipher = createCipheriv('aes-128-gcm', cek, nonce);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.update(Buffer.from([2])), cipher.final(), cipher.getAuthTag()]);
  const header = Buffer.alloc(21);
  salt.copy(header, 0);
  header.writeUInt32BE(RECORD_SIZE, 16);
  header.writeUInt8(serverPublic.length, 20);
  return Buffer.concat([header, serverPublic, ciphertext]);
}
