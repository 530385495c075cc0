import { createPrivateKey, X509Certificate } from 'node:crypto';
import { HeraldError, validation } from '../errors/index.ts';
import type { AppCredentials, FcmServiceAccount } from './types.ts';
import { urlWithoutCredentials } from '../config/redact.ts';
import type { QuietHours, SendWindow } from '../core/quiet-hours.ts';

/** What PUT /v1/apps/{appId} accepts (docs/api.md § Apps); secrets included. */
export interface AppInput {
  readonly name: string;
  /** BCP 47 tag templates fall back to (default `en`). */
  readonly defaultLocale?: string | undefined;
  /** Days finished notifications, inbox items and events are kept (docs/privacy.md); null/absent: HERALD_RETENTION_DAYS. */
  readonly retentionDays?: number | null | undefined;
  /** The zone of users who have none, for local-time sends and quiet hours (docs/timing.md); null/absent: UTC. */
  readonly defaultTimezone?: string | null | undefined;
  /** Quiet hours of users who have none of their own (docs/timing.md); null/absent: none. */
  readonly quietHours?: QuietHours | null | undefined;
  /** The send window of users who have none of their own (docs/timing.md); null/absent: none. */
  readonly sendWindow?: SendWindow | null | undefined;
  readonly apns?: {
    readonly bundleId: string;
    readonly environment?: 'production' | 'development' | undefined;
    readonly url?: string | undefined;
    readonly teamId?: string | undefined;
    readonly keyId?: string | undefined;
    readonly key?: string | undefined;
    readonly cert?: string | undefined;
    readonly privateKey?: string | undefined;
    readonly pkcs12?: string | undefined;
    readonly passphrase?: string | undefined;
  } | undefined;
  readonly fcm?: { readonly serviceAccount: string | Record<string, unknown>; readonly url?: string | undefined; readonly validateTokens?: boolean | undefined } | undefined;
  readonly webpush?: { readonly vapidPublicKey: string; readonly vapidPrivateKey: string; readonly subject: string } | undefined;
  readonly email?: { readonly from: string; readonly smtpUrl?: string | undefined; readonly ses?: { readonly region: string } | undefined } | undefined;
  readonly webhook?: { readonly url: string; readonly secret?: string | undefined } | undefined;
}

const bad = (field: string, message: string) => validation(`${field}: ${message}`, [{ field, message }]);
const unusable = (field: string, message: string) => new HeraldError('INVALID_CREDENTIALS', `${field}: ${message}`, [{ field, message }]);

function checkKey(pem: string, field: string, passphrase?: string): void {
  try {
    createPrivateKey(passphrase ? { key: pem, passphrase } : pem);
  } catch {
    throw unusable(field, 'is not a PEM private key');
  }
}

function isUrl(text: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

/** Check every configured channel and return the credentials to seal. Shape errors → 400, unusable keys → 422. */
export function toCredentials(id: string, input: AppInput): AppCredentials {
  const out: { -readonly [K in keyof AppCredentials]: AppCredentials[K] } = { id, name: input.name };
  const apns = input.apns;
  if (apns) {
    const token = apns.key !== undefined || apns.keyId !== undefined || apns.teamId !== undefined;
    const cert = apns.cert !== undefined || apns.privateKey !== undefined || apns.pkcs12 !== undefined;
    if (token === cert) throw bad('body.apns', 'give either token auth (teamId, keyId, key) or certificate auth (cert + privateKey, or pkcs12)');
    if (token) {
      if (!apns.teamId || !apns.keyId || !apns.key) throw bad('body.apns', 'token auth needs teamId, keyId and key (the .p8 PEM)');
      checkKey(apns.key, 'body.apns.key');
    } else if (apns.pkcs12 === undefined) {
      if (!apns.cert || !apns.privateKey) throw bad('body.apns', 'certificate auth needs cert and privateKey (PEM)');
      try {
        new X509Certificate(apns.cert);
      } catch {
        throw unusable('body.apns.cert', 'is not a PEM certificate');
      }
      checkKey(apns.privateKey, 'body.apns.privateKey', apns.passphrase);
    }
    if (apns.url !== undefined && !isUrl(apns.url, ['https:'])) throw bad('body.apns.url', 'must be an https URL');
    out.apns = { ...apns, environment: apns.environment ?? 'production' };
  }
  if (input.fcm) {
    let account: unknown = input.fcm.serviceAccount;
    if (typeof account === 'string') {
      try {
        account = JSON.parse(account);
      } catch {
        throw bad('body.fcm.serviceAccount', 'is not JSON');
      }
    }
    const sa = account as Partial<FcmServiceAccount> | null;
    if (!sa || typeof sa !== 'object' || typeof sa.project_id !== 'string' || typeof sa.client_email !== 'string' || typeof sa.private_key !== 'string') {
      throw bad('body.fcm.serviceAccount', 'needs project_id, client_email and private_key (the JSON file Firebase gives you)');
    }
    checkKey(sa.private_key, 'body.fcm.serviceAccount.private_key');
    if (input.fcm.url !== undefined && !isUrl(input.fcm.url, ['https:', 'http:'])) throw bad('body.fcm.url', 'must be a URL');
    out.fcm = { serviceAccount: sa as FcmServiceAccount, url: input.fcm.url, validateTokens: input.fcm.validateTokens };
  }
  if (input.webpush) {
    const { vapidPublicKey, vapidPrivateKey, subject } = input.webpush;
    // RFC 8292 §3.2: the public key is an uncompressed P-256 point (65 bytes), base64url.
    if (Buffer.from(vapidPublicKey, 'base64url').length !== 65) throw unusable('body.webpush.vapidPublicKey', 'must be a base64url P-256 public key (65 bytes)');
    if (Buffer.from(vapidPrivateKey, 'base64url').length !== 32) throw unusable('body.webpush.vapidPrivateKey', 'must be a base64url P-256 private key (32 bytes)');
    if (!isUrl(subject, ['mailto:', 'https:'])) throw bad('body.webpush.subject', 'must be a mailto: or https: URL (RFC 8292 §2.1)');
    out.webpush = { vapidPublicKey, vapidPrivateKey, subject };
  }
  if (input.email) {
    const { from, smtpUrl, ses } = input.email;
    if ((smtpUrl === undefined) === (ses === undefined)) throw bad('body.email', 'give either smtpUrl or ses');
    if (smtpUrl !== undefined && !isUrl(smtpUrl, ['smtp:', 'smtps:'])) throw bad('body.email.smtpUrl', 'must be an smtp: or smtps: URL');
    out.email = { from, smtpUrl, ses };
  }
  if (input.webhook) {
    if (!isUrl(input.webhook.url, ['http:', 'https:'])) throw bad('body.webhook.url', 'must be an http(s) URL');
    out.webhook = { url: input.webhook.url, secret: input.webhook.secret };
  }
  return out;
}

/** The non-secret face of credentials: which channels are configured, key ids, never keys. */
export function summarise(c: AppCredentials): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  if (c.apns) {
    channels.apns = {
      auth: c.apns.key ? 'token' : 'certificate',
      bundleId: c.apns.bundleId,
      environment: c.apns.environment,
      ...(c.apns.keyId ? { keyId: c.apns.keyId, teamId: c.apns.teamId } : {}),
      ...(c.apns.cert ? { certificateSubject: certSubject(c.apns.cert) } : {}),
    };
  }
  if (c.fcm) channels.fcm = { projectId: c.fcm.serviceAccount.project_id, clientEmail: c.fcm.serviceAccount.client_email, privateKeyId: c.fcm.serviceAccount.private_key_id };
  if (c.webpush) channels.webpush = { vapidPublicKey: c.webpush.vapidPublicKey, subject: c.webpush.subject };
  if (c.email) channels.email = { from: c.email.from, transport: c.email.ses ? 'ses' : 'smtp', ...(c.email.ses ? { sesRegion: c.email.ses.region } : {}) };
  // A webhook URL may carry credentials (user:password@, ?token=): shown without them.
  if (c.webhook) channels.webhook = { url: urlWithoutCredentials(c.webhook.url), signed: Boolean(c.webhook.secret) };
  return channels;
}

function certSubject(pem: string): string | undefined {
  try {
    return new X509Certificate(pem).subject;
  } catch {
    return undefined;
  }
}
