import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { isUserId } from '../users/id.ts';
import { isSingleMailbox } from '../users/email.ts';
import { isAppId } from '../apps/id.ts';

export interface UserTokenOptions {
  readonly secret?: string | undefined;
  readonly jwksUrl?: string | undefined;
  /** Longest accepted lifetime: exp − iat and exp − now must both be within it. */
  readonly maxAgeSeconds: number;
  /** Accepted `iss` values; undefined: not checked. */
  readonly issuer?: readonly string[] | undefined;
  /** Accepted `aud` values (the token must name one); undefined: not checked. */
  readonly audience?: readonly string[] | undefined;
  /** The claim naming the app the token is for. */
  readonly appClaim: string;
}

/** What a valid user token says. */
export interface UserClaims {
  readonly userId: string;
  /** The token's `email` claim when it is one mailbox; any other value is dropped, never stored. */
  readonly email?: string | undefined;
  /** The app the token is for: its app claim, or `default` when it has none. */
  readonly appId: string;
  readonly expiresAt: Date;
}

/** The app a token without an app claim is for: a single-app deployment's tokens need no claim. */
export const DEFAULT_TOKEN_APP = 'default';

/**
 * Verifies end users' JWTs: HS256 with a shared secret, or RS256/ES256 keys from a JWKS URL.
 *
 * Beyond the signature, every claim herald acts on is checked, since a token is all an end
 * user's app shows herald: `exp` is required and the lifetime bounded (a leaked token must stop
 * working, and a long-lived one is as good as a password), `iss`/`aud` when the operator names
 * them (a token minted for another service must not work here), `sub` is a user id herald can
 * store and address, and the app claim an app id.
 */
export class UserTokenVerifier {
  readonly #secret: Uint8Array | undefined;
  readonly #jwks: JWTVerifyGetKey | undefined;
  readonly #options: UserTokenOptions;

  constructor(options: UserTokenOptions) {
    this.#secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
    this.#jwks = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined;
    this.#options = options;
  }

  get enabled(): boolean {
    return this.#secret !== undefined || this.#jwks !== undefined;
  }

  /** The token's claims, or undefined when the token is not valid. */
  async verify(token: string): Promise<UserClaims | undefined> {
    const common: JWTVerifyOptions = {
      requiredClaims: ['exp'],
      ...(this.#options.issuer ? { issuer: [...this.#options.issuer] } : {}),
      ...(this.#options.audience ? { audience: [...this.#options.audience] } : {}),
    };
    const attempts: Array<() => Promise<{ payload: JWTPayload }>> = [];
    if (this.#secret) {
      const secret = this.#secret;
      attempts.push(() => jwtVerify(token, secret, { ...common, algorithms: ['HS256'] }));
    }
    if (this.#jwks) {
      const jwks = this.#jwks;
      attempts.push(() => jwtVerify(token, jwks, { ...common, algorithms: ['RS256', 'ES256'] }));
    }
    for (const attempt of attempts) {
      let payload: JWTPayload;
      try {
        ({ payload } = await attempt());
      } catch {
        continue; // try the next verifier
      }
      return this.#claims(payload);
    }
    return undefined;
  }

  #claims(payload: JWTPayload): UserClaims | undefined {
    const exp = payload.exp!;
    const now = Date.now() / 1000;
    const max = this.#options.maxAgeSeconds;
    // Both bounds: a token without iat must not outlive the limit from now, and one with an iat
    // set in the future must not stretch its lifetime past it.
    if (exp - now > max) return undefined;
    if (payload.iat !== undefined && exp - payload.iat > max) return undefined;
    if (!isUserId(payload.sub)) return undefined;
    const app = payload[this.#options.appClaim];
    if (app !== undefined && !isAppId(app)) return undefined;
    return {
      userId: payload.sub,
      email: isSingleMailbox(payload.email) ? payload.email : undefined,
      appId: app ?? DEFAULT_TOKEN_APP,
      expiresAt: new Date(exp * 1000),
    };
  }
}
