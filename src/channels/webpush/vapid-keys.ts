import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateVapidKeys, vapidPrivateKey, type VapidKeys } from './vapid.ts';

/**
 * The default app's VAPID keys on the embedded default, when HERALD_VAPID_* are unset: generated
 * once into `<dataDir>/vapid.json` (mode 0600) and read back on every start. Browsers bind each
 * subscription to the public key, so the pair must never change once subscriptions exist; the
 * exclusive create ('wx') makes concurrent first starts agree on one pair.
 */
export async function ensureDefaultVapidKeys(dataDir: string): Promise<VapidKeys> {
  const file = path.join(dataDir, 'vapid.json');
  const existing = await readKeys(file);
  if (existing) return existing;
  await mkdir(dataDir, { recursive: true });
  const keys = generateVapidKeys();
  try {
    await writeFile(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return keys;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const winner = await readKeys(file);
    if (!winner) throw new Error(`${file} exists but holds no usable VAPID keys`);
    return winner;
  }
}

async function readKeys(file: string): Promise<VapidKeys | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const keys = JSON.parse(text) as Partial<VapidKeys>;
  if (typeof keys.publicKey !== 'string' || typeof keys.privateKey !== 'string') {
    throw new Error(`${file} does not hold {publicKey, privateKey}`);
  }
  vapidPrivateKey(keys as VapidKeys); // throws on a damaged pair rather than sending with it
  return { publicKey: keys.publicKey, privateKey: keys.privateKey };
}
