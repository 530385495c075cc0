import { createHash } from 'node:crypto';
import tls from 'node:tls';
import type { SecureClientSessionOptions } from 'node:http2';
import type { ApnsCredentials } from '../../apps/types.ts';
import { ApnsPool, type PoolOptions } from './pool.ts';
import { TokenSigner } from './token.ts';

/**
 * Per app, environment and credentials: the connection pool (and, with token auth, the token
 * signer). Pools are keyed by a fingerprint of the credentials, so changed credentials get fresh
 * connections and the old pool is closed.
 */

export const PRODUCTION_ORIGIN = 'https://api.push.apple.com';
export const SANDBOX_ORIGIN = 'https://api.sandbox.push.apple.com';

/**
 * The app's own `url` when set, else the deployment's (HERALD_APNS_URL: an egress proxy or a fake
 * serves every app), else Apple's host for the environment.
 */
export function apnsOrigin(creds: ApnsCredentials, environment: 'production' | 'development', defaultUrl?: string): string {
  return creds.url ?? defaultUrl ?? (environment === 'development' ? SANDBOX_ORIGIN : PRODUCTION_ORIGIN);
}

export interface Target {
  readonly key: string;
  readonly appId: string;
  readonly environment: 'production' | 'development';
  readonly bundleId: string;
  readonly pool: ApnsPool;
  readonly signer: TokenSigner | undefined;
}

export type Resolved = { readonly ok: true; readonly target: Target } | { readonly ok: false; readonly problem: string };

export interface TargetOptions extends Omit<PoolOptions, 'origin' | 'tls'> {
  /** Extra trusted CA (tests; production trusts the system store and NODE_EXTRA_CA_CERTS). */
  readonly ca?: string | Buffer | undefined;
  readonly now?: (() => number) | undefined;
  /** Origin for apps that name none (HERALD_APNS_URL). */
  readonly defaultUrl?: string | undefined;
}

/** Credentials objects are cached by the app store, so their fingerprint is computed once each. */
const fingerprints = new WeakMap<ApnsCredentials, string>();

function fingerprint(c: ApnsCredentials): string {
  let known = fingerprints.get(c);
  if (known === undefined) {
    known = hash(c);
    fingerprints.set(c, known);
  }
  return known;
}

function hash(c: ApnsCredentials): string {
  return createHash('sha256')
    .update(JSON.stringify([c.url, c.teamId, c.keyId, c.key, c.cert, c.privateKey, c.pkcs12, c.passphrase]))
    .digest('hex')
    .slice(0, 16);
}

export class Targets {
  readonly #options: TargetOptions;
  readonly #targets = new Map<string, Target>();
  readonly #resolving = new Map<string, Promise<Resolved>>();
  readonly #failed = new Map<string, string>();
  /**
   * Hot path: the app store hands out the same credentials object while it is cached, so the
   * target is found by object identity without building the key string.
   */
  readonly #byCreds = new WeakMap<ApnsCredentials, { appId: string; production?: Target; development?: Target }>();

  constructor(options: TargetOptions) {
    this.#options = options;
  }

  resolve(appId: string, creds: ApnsCredentials, deviceEnvironment: 'production' | 'development' | undefined): Target | Promise<Resolved> {
    const environment = deviceEnvironment ?? creds.environment;
    const cached = this.#byCreds.get(creds);
    const hit = cached && cached.appId === appId ? cached[environment] : undefined;
    if (hit && this.#targets.get(hit.key) === hit) return hit;
    const key = `${appId}|${environment}|${fingerprint(creds)}`;
    const known = this.#targets.get(key);
    if (known) {
      const entry = cached && cached.appId === appId ? cached : { appId };
      entry[environment] = known;
      this.#byCreds.set(creds, entry);
      return known;
    }
    const failed = this.#failed.get(key);
    if (failed) return Promise.resolve({ ok: false, problem: failed });
    let pending = this.#resolving.get(key);
    if (!pending) {
      pending = this.#create(key, appId, environment, creds).finally(() => this.#resolving.delete(key));
      this.#resolving.set(key, pending);
    }
    return pending;
  }

  async close(): Promise<void> {
    const targets = [...this.#targets.values()];
    this.#targets.clear();
    await Promise.all(targets.map((t) => t.pool.close()));
  }

  async #create(key: string, appId: string, environment: 'production' | 'development', creds: ApnsCredentials): Promise<Resolved> {
    if (!creds.bundleId) return { ok: false, problem: 'APNs needs a bundle id (HERALD_APNS_BUNDLE_ID or the app\'s apns.bundleId)' };
    const tlsOptions: SecureClientSessionOptions = {};
    let signer: TokenSigner | undefined;
    try {
      if (creds.key) {
        if (!creds.keyId || !creds.teamId) throw new Error('APNs token auth needs the key id and team id with the .p8 key');
        signer = new TokenSigner({ teamId: creds.teamId, keyId: creds.keyId, key: creds.key, now: this.#options.now });
        await signer.init();
      } else if (creds.pkcs12) {
        // Parsed here so a wrong passphrase is an app problem, not a connection failure.
        tlsOptions.secureContext = tls.createSecureContext({ pfx: Buffer.from(creds.pkcs12, 'base64'), passphrase: creds.passphrase, ca: this.#ca() });
      } else if (creds.cert && creds.privateKey) {
        tlsOptions.secureContext = tls.createSecureContext({ cert: creds.cert, key: creds.privateKey, passphrase: creds.passphrase, ca: this.#ca() });
      } else {
        throw new Error('APNs needs token auth (key, key id, team id) or certificate auth (certificate + private key, or PKCS#12)');
      }
    } catch (err) {
      const problem = `APNs credentials are not usable: ${(err as Error).message}`;
      this.#failed.set(key, problem);
      return { ok: false, problem };
    }
    if (!tlsOptions.secureContext && this.#options.ca) tlsOptions.secureContext = tls.createSecureContext({ ca: this.#ca() });
    const origin = apnsOrigin(creds, environment, this.#options.defaultUrl);
    // Credentials changed: the pools of the old ones are closed.
    for (const [k, old] of this.#targets) {
      if (old.appId === appId && old.environment === environment) {
        this.#targets.delete(k);
        void old.pool.close();
      }
    }
    const target: Target = {
      key,
      appId,
      environment,
      bundleId: creds.bundleId,
      pool: new ApnsPool({ ...this.#options, origin, tls: tlsOptions }),
      signer,
    };
    this.#targets.set(key, target);
    return { ok: true, target };
  }

  #ca(): string[] | undefined {
    if (!this.#options.ca) return undefined;
    return [...tls.rootCertificates, String(this.#options.ca)];
  }
}
