import { SignJWT, importPKCS8 } from 'jose';
import { Agent, request } from 'undici';
import type { FcmServiceAccount } from '../../apps/types.ts';

/**
 * OAuth 2.0 for service accounts: a JWT signed RS256 with the account's key is exchanged at the
 * JSON's `token_uri` for an access token (the JWT bearer grant, RFC 7523;
 * https://developers.google.com/identity/protocols/oauth2/service-account#httprest).
 * The token is cached and renewed a few minutes before it expires, one exchange at a time.
 */
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
/** Renew this long before expiry, so a request never carries a token that dies in flight. */
const RENEW_BEFORE_MS = 5 * 60_000;
/** A token closer than this to expiry is not handed out: a request may take this long. */
const MIN_REMAINING_MS = 60_000;

/** The token endpoint refused the account (revoked key, deleted account, bad JSON). */
export class CredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialError';
  }
}

export interface AccessToken {
  readonly token: string;
  readonly expiresAt: number;
}

export class AccessTokenSource {
  readonly #account: FcmServiceAccount;
  readonly #dispatcher: Agent;
  readonly #now: () => number;
  #current: AccessToken | undefined;
  #pending: Promise<AccessToken> | undefined;

  constructor(account: FcmServiceAccount, dispatcher: Agent, now: () => number = Date.now) {
    this.#account = account;
    this.#dispatcher = dispatcher;
    this.#now = now;
  }

  /**
   * A valid access token. Inside the renewal window the cached token is still handed out while
   * one exchange runs in the background, so sends never wait for the hourly renewal; only a
   * missing or nearly dead token makes callers wait.
   */
  async get(): Promise<string> {
    const current = this.#current;
    const now = this.#now();
    if (current && current.expiresAt - RENEW_BEFORE_MS > now) return current.token;
    const renewal = this.#renew();
    if (current && current.expiresAt - MIN_REMAINING_MS > now) {
      renewal.catch(() => undefined); // a failed background renewal is retried by the next call
      return current.token;
    }
    return (await renewal).token;
  }

  #renew(): Promise<AccessToken> {
    this.#pending ??= this.#exchange().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Forget the cached token (the API answered 401 with it). */
  invalidate(token: string): void {
    if (this.#current?.token === token) this.#current = undefined;
  }

  async #exchange(): Promise<AccessToken> {
    const account = this.#account;
    if (!account.client_email || !account.private_key) {
      throw new CredentialError('the FCM service account JSON lacks client_email or private_key');
    }
    const tokenUri = account.token_uri ?? GOOGLE_TOKEN_URI;
    let key: CryptoKey;
    try {
      key = await importPKCS8(account.private_key, 'RS256');
    } catch (err) {
      throw new CredentialError(`the FCM service account private_key is not a PKCS#8 RSA key: ${(err as Error).message}`);
    }
    const issuedAt = Math.floor(this.#now() / 1000);
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(account.private_key_id ? { kid: account.private_key_id } : {}) })
      .setIssuer(account.client_email)
      .setAudience(tokenUri)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 3600)
      .sign(key);

    const response = await request(tokenUri, {
      method: 'POST',
      dispatcher: this.#dispatcher,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
    const text = await response.body.text();
    let json: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } = {};
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      // handled below: no access_token
    }
    if (response.statusCode >= 500 || response.statusCode === 429) {
      throw new Error(`token endpoint answered ${response.statusCode}`);
    }
    if (response.statusCode !== 200 || typeof json.access_token !== 'string') {
      // 400 invalid_grant / 401 invalid_client: the account or its key is not accepted.
      const reason = [json.error, json.error_description].filter((x) => typeof x === 'string').join(': ');
      throw new CredentialError(`the token endpoint refused the FCM service account (${response.statusCode}${reason ? ` ${reason}` : ''})`);
    }
    const expiresIn = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 3600;
    this.#current = { token: json.access_token, expiresAt: this.#now() + expiresIn * 1000 };
    return this.#current;
  }
}
