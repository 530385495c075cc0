import { timingSafeEqual } from 'node:crypto';
import type { Pool } from '../db/pool.ts';
import { WakeupCoalescer, withQuietTransaction } from '../db/wakeup.ts';
import { ensureRoomFor } from '../users/caps.ts';
import { uuidv7 } from '../db/ids.ts';
import { HeraldError, notFound, validation } from '../errors/index.ts';
import { appendEvent } from '../events/outbox.ts';
import type { DeviceRow, DomainHooks } from '../core/hooks.ts';
import { ensureUser } from '../users/index.ts';
import { appExists } from '../apps/repository.ts';
import { OutboundPolicy, refuseUnlessAllowed } from '../outbound/index.ts';
import {
  lockDeviceByToken,
  insertDevice,
  reRegisterDevice,
  listDevices,
  deleteDevice,
  type Device,
  type Platform,
  type WebSubscription,
} from './repository.ts';

export interface DeviceInput {
  readonly platform: Platform;
  readonly token?: string | undefined;
  readonly subscription?: WebSubscription | undefined;
  readonly name?: string | undefined;
  readonly environment?: 'production' | 'development' | undefined;
  readonly appId?: string | undefined;
}

// APNs device tokens are 32 bytes today (64 hex digits) but Apple says not to rely on the
// length: https://developer.apple.com/documentation/usernotifications/registering-your-app-with-apns
const APNS_TOKEN = /^[0-9a-fA-F]{64,200}$/;
const FCM_TOKEN = /^[\x21-\x7e]{1,4096}$/;
const BASE64URL = /^[A-Za-z0-9_\-+/]+=*$/;

/** Check the shape per platform and derive the stored token (web: the push endpoint). */
function normalise(input: DeviceInput): { token: string; subscription: WebSubscription | null; environment: string | null } {
  const fail = (field: string, message: string) => validation(`${field}: ${message}`, [{ field, message }]);
  switch (input.platform) {
    case 'ios': {
      if (input.subscription) throw fail('body.subscription', 'only web devices have a subscription');
      if (!input.token || !APNS_TOKEN.test(input.token)) throw fail('body.token', 'an APNs device token is 64 or more hexadecimal digits');
      return { token: input.token.toLowerCase(), subscription: null, environment: input.environment ?? null };
    }
    case 'android': {
      if (input.subscription) throw fail('body.subscription', 'only web devices have a subscription');
      if (input.environment) throw fail('body.environment', 'only ios devices have an environment');
      if (!input.token || !FCM_TOKEN.test(input.token)) throw fail('body.token', 'an FCM registration token is required (printable, no spaces)');
      return { token: input.token, subscription: null, environment: null };
    }
    case 'web': {
      if (input.environment) throw fail('body.environment', 'only ios devices have an environment');
      const sub = input.subscription;
      if (!sub) throw fail('body.subscription', 'a web device needs its PushSubscription {endpoint, keys: {p256dh, auth}}');
      let url: URL | undefined;
      try {
        url = new URL(sub.endpoint);
      } catch {
        url = undefined;
      }
      if (!url || url.protocol !== 'https:') throw fail('body.subscription.endpoint', 'must be an https URL');
      if (!BASE64URL.test(sub.keys.p256dh)) throw fail('body.subscription.keys.p256dh', 'must be base64url');
      if (!BASE64URL.test(sub.keys.auth)) throw fail('body.subscription.keys.auth', 'must be base64url');
      if (input.token !== undefined && input.token !== sub.endpoint) throw fail('body.token', 'a web device is identified by its subscription endpoint; omit token');
      return { token: sub.endpoint, subscription: { endpoint: sub.endpoint, keys: { p256dh: sub.keys.p256dh, auth: sub.keys.auth } }, environment: null };
    }
  }
}

export interface RegisterOptions {
  /** The e-mail address the caller's credentials carry, for a user row created here. */
  readonly email?: string | undefined;
  /**
   * The caller speaks for every user (the application's server, with an API key): a device
   * registered to another user then moves to this one. An end user may move a device only by
   * proving they hold it (see `provesPossession`); otherwise anyone who learnt a token could take
   * the device over, silencing its owner and sending their own notifications to the owner's screen.
   */
  readonly trusted?: boolean | undefined;
}

/**
 * Whether a registration proves it comes from the device itself. A Web Push subscription carries
 * secrets only the browser holds (`keys.auth` is 16 random bytes it made, RFC 8291 §3.2): the same
 * endpoint with the same keys is the same browser, e.g. another person signing in on it. APNs and
 * FCM tokens are identifiers without a secret, so for them nothing an end user sends is proof.
 */
function provesPossession(stored: WebSubscription | null, sent: WebSubscription | null): boolean {
  if (!stored || !sent) return false;
  const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  return same(stored.keys.p256dh, sent.keys.p256dh) && same(stored.keys.auth, sent.keys.auth);
}

function hookRow(d: Device): DeviceRow {
  return { id: d.id, userId: d.userId, appId: d.appId, platform: d.platform, token: d.token };
}

/** The device registry. Each change commits with its event and the engine's hook. */
export class DeviceService {
  readonly #pool: Pool;
  readonly #hooks: () => DomainHooks;
  readonly #outbound: OutboundPolicy;

  readonly #maxPerUser: number;
  /** Wake-ups after commit: a registration NOTIFYs nothing inside its transaction (src/db/wakeup.ts). */
  readonly #wake: WakeupCoalescer;

  /** `outbound`: where a web device's endpoint may point (default: no exceptions); `maxPerUser`: devices one user may have (0: any number). */
  constructor(pool: Pool, hooks: () => DomainHooks, outbound: OutboundPolicy = new OutboundPolicy(), maxPerUser = 0) {
    this.#pool = pool;
    this.#hooks = hooks;
    this.#outbound = outbound;
    this.#maxPerUser = maxPerUser;
    this.#wake = new WakeupCoalescer(pool);
  }

  /**
   * Register a device for a user. The same token again for the same user answers the existing
   * device (`created: false`); a token registered to another user moves to this one when the
   * caller is trusted or proves possession, else it is 409 DEVICE_TAKEN and nothing changes.
   */
  async register(userId: string, input: DeviceInput, options: RegisterOptions = {}): Promise<{ device: Device; created: boolean }> {
    const appId = input.appId ?? 'default';
    const { token, subscription, environment } = normalise(input);
    // The endpoint is the end user's choice and herald will POST to it: not at its own network.
    if (subscription) refuseUnlessAllowed(this.#outbound, subscription.endpoint, 'body.subscription.endpoint');
    if (appId !== 'default' && !(await appExists(this.#pool, appId))) {
      throw new HeraldError('UNKNOWN_APP', `no app "${appId}"`, [{ field: 'body.appId', message: 'no such app' }]);
    }
    const hooks = this.#hooks();
    if (hooks.validateDevice && input.platform !== 'ios') {
      // The old NestJS system verified FCM tokens with a dry-run send before accepting them.
      const reason = await hooks.validateDevice({ userId, appId, platform: input.platform, token });
      if (reason) throw new HeraldError('INVALID_DEVICE_TOKEN', `the provider rejected the token: ${reason}`, { reason });
    }
    const name = input.name ?? null;
    return withQuietTransaction(this.#pool, this.#wake, async (client, wake) => {
      await ensureUser(client, userId, options.email);
      for (let attempt = 0; attempt < 3; attempt++) {
        const existing = await lockDeviceByToken(client, appId, input.platform, token);
        if (existing) {
          const moved = existing.userId !== userId;
          if (moved && !options.trusted && !provesPossession(existing.subscription, subscription)) {
            // Neither the owner nor the device is named: the answer must not reveal whose it is.
            throw new HeraldError('DEVICE_TAKEN', 'This device is registered to another user. Their app removes it on sign-out (DELETE /v1/me/devices/{deviceId}), or the application’s server moves it (POST /v1/users/{userId}/devices).');
          }
          const revived = existing.status === 'invalid';
          const device = await reRegisterDevice(client, existing.id, userId, { subscription, name, environment });
          if (moved) {
            await hooks.deviceRemoved(client, existing.id, existing.userId);
            await appendEvent(client, { userId: existing.userId, type: 'device:removed', itemType: 'device', itemId: existing.id, data: { reason: 'registered to another user' } });
          }
          if (moved || revived) {
            await hooks.deviceRegistered(client, hookRow(device), wake);
            await appendEvent(client, { userId, type: 'device:registered', itemType: 'device', itemId: device.id, data: { platform: device.platform, appId, moved } });
          }
          return { device, created: moved };
        }
        await ensureRoomFor(client, userId, 'devices', this.#maxPerUser);
        const device = await insertDevice(client, { id: uuidv7(), userId, appId, platform: input.platform, token, subscription, name, environment });
        if (device) {
          await hooks.deviceRegistered(client, hookRow(device), wake);
          await appendEvent(client, { userId, type: 'device:registered', itemType: 'device', itemId: device.id, data: { platform: device.platform, appId } });
          return { device, created: true };
        }
        // A concurrent registration of the same token committed first: lock and reuse it.
      }
      throw new HeraldError('CONFLICT', 'the device is being registered concurrently; retry');
    });
  }

  list(userId: string): Promise<Device[]> {
    return listDevices(this.#pool, userId);
  }

  async remove(userId: string, deviceId: string): Promise<void> {
    await withQuietTransaction(this.#pool, this.#wake, async (client) => {
      const device = await deleteDevice(client, userId, deviceId);
      if (!device) throw notFound('device', deviceId);
      await this.#hooks().deviceRemoved(client, device.id, userId);
      await appendEvent(client, { userId, type: 'device:removed', itemType: 'device', itemId: device.id, data: { platform: device.platform, appId: device.appId } });
    });
  }
}
