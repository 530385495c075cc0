/**
 * What a user id may be. User ids come from the application (`/v1/users/{userId}`) or from an end
 * user's credentials (a JWT's `sub`, the gateway's `x-authenticated-userid`), and both must name
 * the same kind of thing: 1–200 characters with no whitespace, no control characters and no `/`,
 * and not `.` or `..` — an id must be addressable as one path segment of `/v1/users/{userId}`
 * (clients normalise dot segments away) and safe to store and log as one line.
 *
 * A JSON-schema pattern (ajv compiles it with the `u` flag) so the API's TypeBox schema and the
 * credential checks share one definition.
 */
export const USER_ID_PATTERN = '^(?!\\.{1,2}$)[^\\s/\\p{Cc}]{1,200}$';

const USER_ID = new RegExp(USER_ID_PATTERN, 'u');

export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID.test(value);
}
