import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * The 32-byte key that seals app credentials. HERALD_SECRET_KEY may be 32 bytes in base64 or hex,
 * or any passphrase (then its SHA-256 is used). Without it (embedded default only) a random key
 * is generated once into the data directory and reused.
 */
export function deriveSecretKey(value: string): Buffer {
  if (/^[0-9a-f]{64}$/i.test(value)) return Buffer.from(value, 'hex');
  const b64 = Buffer.from(value, 'base64');
  if (b64.length === 32 && /^[A-Za-z0-9+/_-]{43}=?$/.test(value)) return b64;
  return createHash('sha256').update(value, 'utf8').digest();
}

export async function resolveSecretKey(configured: string | undefined, dataDir: string): Promise<Buffer> {
  if (configured) return deriveSecretKey(configured);
  const file = path.join(dataDir, 'secret.key');
  try {
    return deriveSecretKey((await readFile(file, 'utf8')).trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64');
  try {
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return deriveSecretKey(key);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return deriveSecretKey((await readFile(file, 'utf8')).trim());
  }
}
