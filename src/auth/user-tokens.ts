import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';

/** Verifies end users' JWTs: HS256 with a shared secret, or RS256/ES256 keys from a JWKS URL. */
export class UserTokenVerifier {
  readonly #secret: Uint8Array | undefined;
  readonly #jwks: JWTVerifyGetKey | undefined;

  constructor(options: { secret?: string | undefined; jwksUrl?: string | undefined }) {
    this.#secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
    this.#jwks = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined;
  }

  get enabled(): boolean {
    return this.#secret !== undefined || this.#jwks !== undefined;
  }

  /** The user id (`sub`) and e-mail claim, or undefined when the token is not valid. */
  async verify(token: string): Promise<{ userId: string; email?: string } | undefined> {
    const attempts: Array<() => Promise<{ payload: { sub?: string; email?: unknown } }>> = [];
    if (this.#secret) {
      const secret = this.#secret;
      attempts.push(() => jwtVerify(token, secret, { algorithms: ['HS256'] }));
    }
    if (this.#jwks) {
      const jwks = this.#jwks;
      attempts.push(() => jwtVerify(token, jwks, { algorithms: ['RS256', 'ES256'] }));
    }
    for (const attempt of attempts) {
      try {
        const { payload } = await attempt();
        if (typeof payload.sub !== 'string' || payload.sub === '') return undefined;
        return typeof payload.email === 'string' ? { userId: payload.sub, email: payload.email } : { userId: payload.sub };
      } catch {
        // try the next verifier
      }
    }
    return undefined;
  }
}
