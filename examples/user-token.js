#!/usr/bin/env node
// Mints an end user's JWT for trying /v1/me/... and <herald-inbox> locally: HS256, signed with
// HERALD_USER_JWT_SECRET (the same value herald runs with), `sub` = the user id, valid one hour.
// Production apps mint these in their own back end (or use HERALD_USER_JWKS_URL).
//
//   HERALD_USER_JWT_SECRET=... node examples/user-token.js ada [ada@example.com]
import { SignJWT } from 'jose';

const [userId, email] = process.argv.slice(2);
const secret = process.env.HERALD_USER_JWT_SECRET;
if (!userId || !secret) {
  console.error('usage: HERALD_USER_JWT_SECRET=... node examples/user-token.js <userId> [email]');
  process.exit(2);
}
const token = await new SignJWT(email ? { email } : {})
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject(userId)
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(new TextEncoder().encode(secret));
console.log(token);
