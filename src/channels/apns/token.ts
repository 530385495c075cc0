import { SignJWT, importPKCS8 } from 'jose';

/**
 * APNs provider tokens (token-based auth): an ES256 JWT with `kid` = key id, `iss` = team id,
 * `iat`, signed with the .p8 key. Apple rejects tokens older than an hour and answers
 * `TooManyProviderTokenUpdates` to tokens renewed more often than every 20 minutes, so one token
 * is reused and renewed between 20 and 60 minutes of age (we aim at 40, well inside).
 * https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns
 */
export const MIN_TOKEN_AGE_MS = 20 * 60_000;
export const REFRESH_AT_AGE_MS = 40 * 60_000;
export const MAX_TOKEN_AGE_MS = 50 * 60_000;

export interface TokenSignerOptions {
  readonly teamId: string;
  readonly keyId: string;
  readonly key: string;
  readonly now?: (() => number) | undefined;
}

export class TokenSigner {
  readonly #teamId: string;
  readonly #keyId: string;
  readonly #keyPem: string;
  readonly #now: () => number;
  #key: CryptoKey | undefined;
  #token: string | undefined;
  /** `bearer <token>`, built once per token rather than once per request. */
  #header = '';
  #issuedAt = 0;
  #signing: Promise<string> | undefined;
  /** After TooManyProviderTokenUpdates: keep the current token until then. */
  #holdUntil = 0;

  constructor(options: TokenSignerOptions) {
    this.#teamId = options.teamId;
    this.#keyId = options.keyId;
    this.#keyPem = options.key;
    this.#now = options.now ?? Date.now;
  }

  /** Parses the key now so a bad key is reported as an app problem before any send. */
  async init(): Promise<void> {
    this.#key ??= await importPKCS8(this.#keyPem, 'ES256');
    if (!this.#token) await this.#sign();
  }

  /** The current token when fresh: synchronous on the hot path. */
  current(): string | undefined {
    if (!this.#token) return undefined;
    const age = this.#now() - this.#issuedAt;
    if (age < REFRESH_AT_AGE_MS || this.#now() < this.#holdUntil) return this.#token;
    return undefined;
  }

  /** The `authorization` header value when the token is fresh (hot path). */
  currentHeader(): string | undefined {
    return this.current() === undefined ? undefined : this.#header;
  }

  /** The `authorization` header value, renewing the token when due. */
  async header(): Promise<string> {
    return this.currentHeader() ?? `bearer ${await this.#sign()}`;
  }

  /** The token to send, renewing it when due. */
  async token(): Promise<string> {
    return this.current() ?? this.#sign();
  }

  /**
   * APNs said `ExpiredProviderToken`. Renew unless the token is younger than Apple's minimum
   * interval (then our clock or theirs is off, and renewing would only earn
   * TooManyProviderTokenUpdates). Returns whether a new token is in use.
   */
  async expired(rejected: string): Promise<boolean> {
    if (rejected !== this.#token) return true; // someone already renewed it
    if (this.#now() - this.#issuedAt < MIN_TOKEN_AGE_MS || this.#now() < this.#holdUntil) return false;
    await this.#sign();
    return true;
  }

  /** APNs said `TooManyProviderTokenUpdates`: stop renewing for the minimum interval. */
  holdOff(): void {
    this.#holdUntil = this.#now() + MIN_TOKEN_AGE_MS;
  }

  get issuedAt(): number {
    return this.#issuedAt;
  }

  #sign(): Promise<string> {
    this.#signing ??= (async () => {
      try {
        this.#key ??= await importPKCS8(this.#keyPem, 'ES256');
        const iat = Math.floor(this.#now() / 1000);
        const token = await new SignJWT({ iss: this.#teamId, iat })
          .setProtectedHeader({ alg: 'ES256', kid: this.#keyId })
          .sign(this.#key);
        this.#token = token;
        this.#header = `bearer ${token}`;
        this.#issuedAt = iat * 1000;
        return token;
      } finally {
        this.#signing = undefined;
      }
    })();
    return this.#signing;
  }
}
