import { SignJWT, type JWTPayload } from 'jose';
import { TEST_JWT_SECRET } from './app.ts';

export interface TokenOptions {
  /** Extra claims (email, app, iss, aud, ...). */
  readonly claims?: JWTPayload;
  /** `exp`: a jose time span ('5m', '-1m') or seconds since the epoch; null leaves it out. Default '5m'. */
  readonly exp?: string | number | null;
  /** `iat`: seconds since the epoch; null leaves it out. Default now. */
  readonly iat?: number | null;
  readonly secret?: string;
}

/** An HS256 end-user JWT as an application's sign-in service would mint it. */
export function userToken(sub: string | undefined, options: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ ...options.claims }).setProtectedHeader({ alg: 'HS256' });
  if (sub !== undefined) jwt.setSubject(sub);
  if (options.iat !== null) jwt.setIssuedAt(options.iat);
  const exp = options.exp === undefined ? '5m' : options.exp;
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}

/** `Authorization` header for a user token. */
export async function asUser(sub: string, options: TokenOptions = {}): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await userToken(sub, options)}` };
}
