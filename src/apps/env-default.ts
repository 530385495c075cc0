import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import webpush from 'web-push';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { AppCredentials, FcmServiceAccount, WebPushCredentials } from './types.ts';

/**
 * The `default` app as the HERALD_* variables describe it. Files named by the variables are read
 * here; a file that cannot be read leaves its channel out (with a warning) instead of stopping
 * the process, so the other channels keep working.
 */
async function readText(file: string, log: Logger, variable: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    log.warn({ err, variable, file }, 'cannot read a credentials file; its channel stays unconfigured');
    return undefined;
  }
}

/**
 * VAPID keys for the embedded default: generated once into the data directory so a new install
 * can take Web Push subscriptions without configuration (browsers bind a subscription to the
 * public key, so it must never change afterwards).
 */
async function embeddedVapid(dataDir: string, subject: string | undefined): Promise<WebPushCredentials> {
  const file = path.join(dataDir, 'vapid.json');
  let keys: { publicKey: string; privateKey: string };
  try {
    keys = JSON.parse(await readFile(file, 'utf8')) as { publicKey: string; privateKey: string };
  } catch {
    keys = webpush.generateVAPIDKeys();
    await mkdir(dataDir, { recursive: true });
    try {
      await writeFile(file, JSON.stringify(keys), { mode: 0o600, flag: 'wx' });
    } catch {
      keys = JSON.parse(await readFile(file, 'utf8')) as { publicKey: string; privateKey: string };
    }
  }
  return { vapidPublicKey: keys.publicKey, vapidPrivateKey: keys.privateKey, subject: subject ?? 'mailto:herald@localhost' };
}

export async function defaultAppFromEnv(config: Config, dataDir: string, log: Logger): Promise<AppCredentials> {
  const app: { -readonly [K in keyof AppCredentials]: AppCredentials[K] } = { id: 'default', name: 'default' };
  const a = config.apns;
  const common = { bundleId: a.bundleId ?? '', environment: a.environment, url: a.url };
  if (a.keyFile) {
    const key = await readText(a.keyFile, log, 'HERALD_APNS_KEY_FILE');
    if (key) app.apns = { ...common, teamId: a.teamId, keyId: a.keyId, key };
  } else if (a.certFile) {
    const raw = await readFile(a.certFile).catch((err: unknown) => {
      log.warn({ err, variable: 'HERALD_APNS_CERT_FILE' }, 'cannot read a credentials file; its channel stays unconfigured');
      return undefined;
    });
    if (raw && raw.includes('-----BEGIN')) {
      const cert = raw.toString('utf8');
      // A combined PEM (certificate and key in one file, as Kubernetes TLS secrets are often mounted) needs no key file.
      const privateKey = a.privateKeyFile ? await readText(a.privateKeyFile, log, 'HERALD_APNS_PRIVATE_KEY_FILE') : cert.includes('PRIVATE KEY') ? cert : undefined;
      if (privateKey) app.apns = { ...common, cert, privateKey, passphrase: a.passphrase };
    } else if (raw) {
      app.apns = { ...common, pkcs12: raw.toString('base64'), passphrase: a.passphrase };
    }
  }
  if (config.fcm.serviceAccountFile) {
    const text = await readText(config.fcm.serviceAccountFile, log, 'HERALD_FCM_SERVICE_ACCOUNT_FILE');
    if (text) {
      try {
        app.fcm = { serviceAccount: JSON.parse(text) as FcmServiceAccount, url: config.fcm.url };
      } catch (err) {
        log.warn({ err, variable: 'HERALD_FCM_SERVICE_ACCOUNT_FILE' }, 'the FCM service account file is not JSON');
      }
    }
  }
  const w = config.webpush;
  if (w.publicKey && w.privateKey) {
    app.webpush = { vapidPublicKey: w.publicKey, vapidPrivateKey: w.privateKey, subject: w.subject ?? 'mailto:herald@localhost' };
  } else if (!config.databaseUrl) {
    app.webpush = await embeddedVapid(dataDir, w.subject).catch((err: unknown) => {
      log.warn({ err }, 'cannot keep generated VAPID keys in the data directory; Web Push stays unconfigured');
      return undefined;
    });
  }
  const e = config.email;
  if (e.from && (e.smtpUrl || e.sesRegion)) {
    app.email = e.smtpUrl ? { from: e.from, smtpUrl: e.smtpUrl } : { from: e.from, ses: { region: e.sesRegion! } };
  }
  if (config.webhook.url) app.webhook = { url: config.webhook.url, secret: config.webhook.secret };
  return app;
}
