/**
 * A per-key promise cache for broker resources (topics, streams, queues): concurrent callers
 * share one lookup-or-create, and a failed one is forgotten so the next call tries again.
 */
export function cachedPromise<K, V>(cache: Map<K, Promise<V>>, key: K, open: () => Promise<V>): Promise<V> {
  let known = cache.get(key);
  if (!known) {
    known = open();
    cache.set(key, known);
    known.catch(() => cache.delete(key));
  }
  return known;
}
