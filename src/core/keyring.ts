import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Sealing of app credentials at rest: AES-256-GCM, a fresh 96-bit nonce per seal (NIST SP
 * 800-38D §8.2), and the app id as additional authenticated data so a sealed blob copied onto
 * another app's row does not open.
 *
 * Layout of what is sealed today (version 2): version (1 byte, = 2) | key id (8) | nonce (12) |
 * tag (16) | ciphertext. The key id names the key that sealed it, so a keyring of the current
 * key and the previous ones opens every blob with the right key (rotation, see secret-key.ts).
 * Version 1 (version | nonce | tag | ciphertext, no key id, the key used as given or as the
 * SHA-256 of a passphrase) was written by earlier releases; it is still opened, never written.
 */
const V1 = 1;
const V2 = 2;
const ID_BYTES = 8;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** One HERALD_SECRET_KEY as the sealing code uses it (derived in secret-key.ts). */
export interface SealingKey {
  /** Names the key on what it sealed; derived from the key, so nothing needs to be assigned. */
  readonly id: Buffer;
  /** AES-256 key derived with a KDF. */
  readonly key: Buffer;
  /** The key as version 1 used it: to open values sealed before version 2. */
  readonly legacy: Buffer;
}

function gcmOpen(key: Buffer, nonce: Buffer, tag: Buffer, body: Buffer, aad: string): string {
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
}

/** The current key seals; the current and previous keys open. */
export class Keyring {
  readonly current: SealingKey;
  readonly #all: readonly SealingKey[];

  constructor(current: SealingKey, previous: readonly SealingKey[] = []) {
    this.current = current;
    this.#all = [current, ...previous];
  }

  /** The current key, then the previous ones: what signed or sealed something may be any of them. */
  get keys(): readonly SealingKey[] {
    return this.#all;
  }

  seal(plaintext: string, aad: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, nonce);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([V2]), this.current.id, nonce, cipher.getAuthTag(), body]);
  }

  /** Throws when no key of the ring sealed the blob (or it was sealed for another app, or altered). */
  open(sealed: Buffer, aad: string): string {
    if (sealed[0] === V2 && sealed.length >= 1 + ID_BYTES + NONCE_BYTES + TAG_BYTES) {
      const id = sealed.subarray(1, 1 + ID_BYTES);
      const key = this.#all.find((k) => k.id.equals(id));
      if (!key) throw new Error(`sealed credentials: sealed under a key that is not configured (key id ${id.toString('hex')})`);
      const at = 1 + ID_BYTES;
      return gcmOpen(key.key, sealed.subarray(at, at + NONCE_BYTES), sealed.subarray(at + NONCE_BYTES, at + NONCE_BYTES + TAG_BYTES), sealed.subarray(at + NONCE_BYTES + TAG_BYTES), aad);
    }
    if (sealed[0] === V1 && sealed.length >= 1 + NONCE_BYTES + TAG_BYTES) {
      // No key id: try each key, current first (GCM's tag tells the right one).
      const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
      const tag = sealed.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
      const body = sealed.subarray(1 + NONCE_BYTES + TAG_BYTES);
      for (const k of this.#all) {
        try {
          return gcmOpen(k.legacy, nonce, tag, body, aad);
        } catch {
          // not this key
        }
      }
      throw new Error('sealed credentials: no configured key opens them');
    }
    throw new Error('sealed credentials: unknown format');
  }
}
