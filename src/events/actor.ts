import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Who is acting in the current request: `key:<key id>` or `user:<app>:<user id>` (never a
 * secret). The API opens a scope per request and names the caller once it is authenticated;
 * every event written while handling it records that actor. Herald's own work (deliveries,
 * reminders firing, retention) runs outside any scope and records none.
 */
const scope = new AsyncLocalStorage<{ actor: string | undefined }>();

/** Run `fn` (and everything it starts) in a fresh actor scope. */
export function withActorScope<T>(fn: () => T): T {
  return scope.run({ actor: undefined }, fn);
}

/** Name the actor of the current scope (no effect outside one). */
export function setActor(actor: string): void {
  const store = scope.getStore();
  if (store) store.actor = actor;
}

export function currentActor(): string | null {
  return scope.getStore()?.actor ?? null;
}
