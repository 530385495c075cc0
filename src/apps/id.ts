/** What an app id may be (`/v1/apps/{appId}`, `appId` in bodies, the app claim of a user token). */
export const APP_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

const APP_ID = new RegExp(APP_ID_PATTERN);

export function isAppId(value: unknown): value is string {
  return typeof value === 'string' && APP_ID.test(value);
}
