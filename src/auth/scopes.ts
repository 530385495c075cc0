/**
 * What an API key may do. Each scope is one capability; `admin` is all of them (and the only
 * scope of keys made before scopes existed, of `HERALD_API_KEY` and of `herald keys create`
 * without `--scopes`). A write scope does not imply the read scope of the same resource: a key
 * that only sends notifications cannot read them back.
 */
export const KEY_SCOPES = [
  'admin',
  'keys:read',
  'keys:write',
  'apps:read',
  'apps:write',
  'users:read',
  'users:write',
  'notifications:read',
  'notifications:write',
  'topics:read',
  'topics:write',
  'templates:read',
  'templates:write',
  'events:read',
] as const;

export type KeyScope = (typeof KEY_SCOPES)[number];

export function isKeyScope(value: string): value is KeyScope {
  return (KEY_SCOPES as readonly string[]).includes(value);
}

export function hasScope(granted: readonly KeyScope[], needed: KeyScope): boolean {
  return granted.includes('admin') || granted.includes(needed);
}

/**
 * What a key may hand on to a key it creates: no scope it lacks, no app outside its own, no
 * longer life than its own. Returns what would be exceeded (empty: allowed).
 */
export function exceededGrants(
  parent: { scopes: readonly KeyScope[]; appIds: readonly string[] | null; expiresAt: Date | null },
  child: { scopes: readonly KeyScope[]; appIds: readonly string[] | null; expiresAt: Date | null },
): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  const missing = child.scopes.filter((s) => !hasScope(parent.scopes, s));
  if (missing.length) out.push({ field: 'body.scopes', message: `this key does not have ${missing.join(', ')}` });
  if (parent.appIds !== null) {
    if (child.appIds === null) out.push({ field: 'body.appIds', message: `this key is limited to apps ${parent.appIds.join(', ')}; name some of them` });
    else {
      const outside = child.appIds.filter((a) => !parent.appIds!.includes(a));
      if (outside.length) out.push({ field: 'body.appIds', message: `this key may not grant apps ${outside.join(', ')}` });
    }
  }
  if (parent.expiresAt !== null && (child.expiresAt === null || child.expiresAt > parent.expiresAt)) {
    out.push({ field: 'body.expiresAt', message: `this key expires at ${parent.expiresAt.toISOString()}; a key it creates must expire by then` });
  }
  return out;
}
