import { Agent } from 'undici';
import type { FcmCredentials } from '../../apps/types.ts';
import type { Verdict } from '../types.ts';
import { Http2Pool } from './http2-pool.ts';
import { AccessTokenSource, CredentialError } from './oauth.ts';
import { fcmOutcome } from './verdict.ts';
import type { JsonObject } from './message.ts';

export const DEFAULT_FCM_URL = 'https://fcm.googleapis.com';

interface Target {
  readonly pool: Http2Pool;
  readonly path: string;
  readonly tokens: AccessTokenSource;
}

export interface FcmSenderOptions {
  /** API origin when the app's credentials name none (HERALD_FCM_URL). */
  readonly url?: string | undefined;
  /** Extra trusted CA for the API and token endpoint (in-process tests against a fake). */
  readonly ca?: string | Buffer | undefined;
  /** HTTP/2 connections per FCM origin. */
  readonly maxSessions?: number | undefined;
  readonly requestTimeoutMs?: number | undefined;
  readonly now?: (() => number) | undefined;
}

/**
 * Sends FCM v1 messages for any number of apps: one access-token cache per service account and
 * one HTTP/2 connection pool per API origin, shared by every app and kept open across sends.
 */
export class FcmSender {
  readonly #options: FcmSenderOptions;
  readonly #pools = new Map<string, Http2Pool>();
  readonly #tokens = new Map<string, AccessTokenSource>();
  readonly #targets = new WeakMap<FcmCredentials, Target>();
  readonly #dispatcher: Agent;

  constructor(options: FcmSenderOptions = {}) {
    this.#options = options;
    this.#dispatcher = new Agent({ connections: 4, ...(options.ca ? { connect: { ca: options.ca } } : {}) });
  }

  /** POST one `{message, validate_only?}` body for the app; never rejects. */
  async send(credentials: FcmCredentials, body: JsonObject): Promise<Verdict> {
    const target = this.#target(credentials);
    if ('status' in target) return target;
    const { pool, path, tokens } = target;
    const payload = JSON.stringify(body);

    for (let attempt = 1; ; attempt++) {
      let accessToken: string;
      try {
        accessToken = await tokens.get();
      } catch (err) {
        if (err instanceof CredentialError) return { status: 'failed', error: err.message, appProblem: err.message };
        return { status: 'retry', error: `FCM token endpoint: ${(err as Error).message}` };
      }
      let outcome;
      try {
        const response = await pool.request(
          {
            ':method': 'POST',
            ':path': path,
            authorization: `Bearer ${accessToken}`,
            'content-type': 'application/json; charset=utf-8',
          },
          payload,
        );
        outcome = fcmOutcome(response.status, response.headers, response.body);
      } catch (err) {
        return { status: 'retry', error: `FCM request failed: ${(err as Error).message}` };
      }
      if (outcome.tokenRejected) {
        tokens.invalidate(accessToken);
        if (attempt === 1) continue; // a token revoked early: one more try with a fresh one
      }
      return outcome.verdict;
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close()));
    await this.#dispatcher.close();
  }

  /**
   * Where and as whom an app sends, resolved once per credentials object (the credential store
   * hands out the same object while it caches it), not per message.
   */
  #target(credentials: FcmCredentials): Target | Verdict {
    const cached = this.#targets.get(credentials);
    if (cached) return cached;
    const account = credentials.serviceAccount;
    if (!account?.project_id) {
      return { status: 'failed', error: 'FCM service account has no project_id', appProblem: 'the FCM service account JSON lacks project_id' };
    }
    let base: URL;
    try {
      base = new URL(credentials.url ?? this.#options.url ?? DEFAULT_FCM_URL);
    } catch {
      const problem = `the FCM API URL ${JSON.stringify(credentials.url ?? this.#options.url)} is not a URL`;
      return { status: 'failed', error: problem, appProblem: problem };
    }
    const target: Target = {
      pool: this.#pool(base.origin),
      path: `${base.pathname.replace(/\/$/, '')}/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`,
      tokens: this.#tokenSource(credentials),
    };
    this.#targets.set(credentials, target);
    return target;
  }

  #pool(origin: string): Http2Pool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      pool = new Http2Pool(origin, {
        ca: this.#options.ca,
        maxSessions: this.#options.maxSessions,
        requestTimeoutMs: this.#options.requestTimeoutMs,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  #tokenSource(credentials: FcmCredentials): AccessTokenSource {
    const a = credentials.serviceAccount;
    // Keyed by the key material itself: a rotated key gets its own token at once.
    const key = `${a.client_email}\n${a.token_uri ?? ''}\n${a.private_key_id ?? ''}\n${a.private_key}`;
    let source = this.#tokens.get(key);
    if (!source) {
      source = new AccessTokenSource(a, this.#dispatcher, this.#options.now);
      this.#tokens.set(key, source);
    }
    return source;
  }
}
