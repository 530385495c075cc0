import { createHeraldClient, unwrap, HeraldApiError, type components } from '@herald/client';

/**
 * The console's connection to herald: the typed client on this page's own origin, with the API
 * key the operator signed in with. The key lives in sessionStorage only (gone when the tab
 * closes, never in a URL or a cookie); a 401 or 403 signs the console out.
 */
const STORAGE_KEY = 'herald.console.apiKey';

export type Schemas = components['schemas'];
export { unwrap, HeraldApiError };

export function storedKey(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function forgetKey(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

export function keepKey(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key);
}

/** Fired on window when herald refuses the stored key; the shell returns to the sign-in form. */
export const SIGNED_OUT = 'herald-console-signed-out';

export const herald = createHeraldClient({
  baseUrl: location.origin,
  apiKey: () => storedKey() ?? '',
});

herald.use({
  onResponse({ response }) {
    if ((response.status === 401 || response.status === 403) && storedKey() !== null) {
      window.dispatchEvent(new CustomEvent(SIGNED_OUT, { detail: response.status }));
    }
    return response;
  },
});

/** A short text for an error shown to the operator. */
export function describe(err: unknown): string {
  if (err instanceof HeraldApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Check a key before keeping it: the console's statistics route needs an admin key, so a wrong
 * key (401) and an end user's token (403) are both refused here.
 */
export async function verifyKey(key: string): Promise<'ok' | 'refused' | 'forbidden'> {
  const response = await fetch(`${location.origin}/v1/stats/deliveries?minutes=1`, { headers: { authorization: `Bearer ${key}` } });
  if (response.ok) return 'ok';
  if (response.status === 403) return 'forbidden';
  if (response.status === 401) return 'refused';
  throw await HeraldApiError.fromResponse(response);
}
