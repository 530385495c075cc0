import { createHash, hkdfSync, randomBytes, scrypt } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Keyring, type SealingKey } from '../core/keyring.ts';

const scryptAsync = promisify(scrypt) as (password: string, salt: string, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/**
 * The keys that seal app credentials. HERALD_SECRET_KEY may be 32 random bytes in base64 or hex,
 * or a passphrase. A passphrase is stretched with scrypt (RFC 7914; N=2^15, r=8, p=1: about
 * 0.1 s once at start-up, 32 MiB) so that a leaked sealed row cannot be opened by trying
 * passphrases at hash speed; 32 random bytes need no stretching. Either is then expanded with
 * HKDF-SHA256 (RFC 5869) into the AES key and the key id, so the configured value itself is
 * never the cipher key. scrypt's salt is fixed: every process of a deployment must derive the
 * same key from the variable alone, with no shared state to keep a random salt in.
 *
 * Rotation: set the new key as HERALD_SECRET_KEY and the old one in HERALD_SECRET_KEYS_PREVIOUS
 * (comma-separated). What the old key sealed stays readable; everything written from then on is
 * sealed with the new key. Without HERALD_SECRET_KEY (embedded default only) a random key is
 * generated once into the data directory and reused.
 */
function rawKey(value: string): Buffer | undefined {
  if (/^[0-9a-f]{64}$/i.test(value)) return Buffer.from(value, 'hex');
  const b64 = Buffer.from(value, 'base64');
  if (b64.length === 32 && /^[A-Za-z0-9+/_-]{43}=?$/.test(value)) return b64;
  return undefined;
}

export async function deriveSealingKey(value: string): Promise<SealingKey> {
  const raw = rawKey(value);
  const material = raw ?? (await scryptAsync(value, 'herald/HERALD_SECRET_KEY', 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }));
  const expand = (info: string, length: number) => Buffer.from(hkdfSync('sha256', material, 'herald', info, length));
  return {
    id: expand('herald key id', 8),
    key: expand('herald app credentials aes-256-gcm', 32),
    // What version-1 sealing used: the 32 bytes as given, or the SHA-256 of the passphrase.
    legacy: raw ?? createHash('sha256').update(value, 'utf8').digest(),
  };
}

export async function keyringFrom(current: string, previous: readonly string[] = []): Promise<Keyring> {
  return new Keyring(await deriveSealingKey(current), await Promise.all(previous.map(deriveSealingKey)));
}

export async function resolveKeyring(configured: string | undefined, previous: readonly string[], dataDir: string): Promise<Keyring> {
  return keyringFrom(configured ?? (await generatedKey(dataDir)), previous);
}

async function generatedKey(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'secret.key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64');
  try {
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return (await readFile(file, 'utf8')).trim();
  }
}
