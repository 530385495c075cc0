import type { SecureClientSessionOptions } from 'node:http2';
import { ApnsConnection, type ApnsResult, type PendingRequest } from './connection.ts';

/**
 * The connections of one app + environment + credentials. Requests are multiplexed onto as few
 * connections as possible (one, until its streams are full), queue while none has a free stream,
 * and move to a fresh connection when theirs fails or goes away before answering — so a GOAWAY
 * or a dropped socket loses nothing. A request that may already have reached APNs (the
 * connection died after it was sent) is also moved: that is the in-flight window in which a
 * notification can arrive twice, which APNs' at-most-once-per-apns-id handling cannot rule out.
 */

export interface PoolOptions {
  readonly origin: string;
  readonly tls: SecureClientSessionOptions;
  /** Most connections to open when every stream of the others is busy. */
  readonly maxConnections: number;
  /** Our own cap on streams per connection (APNs allows about 1000). */
  readonly maxStreams: number;
  readonly requestTimeoutMs: number;
  readonly pingIntervalMs: number;
}

/**
 * How often a request is moved to a new connection before it is answered as a retry: refused
 * requests never reached APNs, so they may move more often than possibly-sent ones.
 */
const MAX_MOVES = { refused: 6, connection: 3 } as const;

export class ApnsPool {
  readonly #options: PoolOptions;
  readonly #connections: ApnsConnection[] = [];
  /** Retired connections finishing their streams; closed with the pool. */
  readonly #retired = new Set<ApnsConnection>();
  readonly #queue: PendingRequest[] = [];
  readonly #timer: NodeJS.Timeout;
  #lastPing = Date.now();
  #closed = false;

  constructor(options: PoolOptions) {
    this.#options = options;
    // One sweep for timeouts and keep-alive instead of a timer per request.
    this.#timer = setInterval(() => this.#sweep(), Math.min(1000, options.requestTimeoutMs));
    this.#timer.unref();
  }

  get connectionCount(): number {
    return this.#connections.length;
  }

  /** `headers` complete, `:method` and `:path` included. */
  send(headers: Record<string, string>, body: string): Promise<ApnsResult> {
    return new Promise<ApnsResult>((resolve) => {
      if (this.#closed) return resolve({ kind: 'no-response', reason: 'refused', error: 'the APNs channel is closed' });
      const request: PendingRequest = {
        headers,
        body,
        moves: 0,
        startedAt: 0,
        resolve: (result) => this.#settle(request, result, resolve),
        done: resolve,
      };
      this.#queue.push(request);
      this.#pump();
    });
  }

  /** Replace a connection (after 503 Service Unavailable or TooManyProviderTokenUpdates). */
  retire(connection: ApnsConnection): void {
    this.#forget(connection);
    this.#retired.add(connection);
    connection.retire();
    this.#pump();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const request of this.#queue.splice(0)) {
      request.done({ kind: 'no-response', reason: 'refused', error: 'the APNs channel is closed' });
    }
    await Promise.all([...this.#connections, ...this.#retired].map((c) => c.close(this.#options.requestTimeoutMs)));
  }

  #settle(request: PendingRequest, result: ApnsResult, resolve: (r: ApnsResult) => void): void {
    if (result.kind === 'no-response' && result.reason !== 'timeout' && !this.#closed && request.moves < MAX_MOVES[result.reason]) {
      request.moves++;
      this.#queue.unshift(request);
      queueMicrotask(() => this.#pump());
      return;
    }
    resolve(result);
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const connection = this.#pick();
      if (!connection) return;
      let free = connection.capacity;
      while (free-- > 0 && this.#queue.length > 0) connection.send(this.#queue.shift()!);
    }
  }

  /** A connection with a free stream, opening one when all are busy and the limit allows. */
  #pick(): ApnsConnection | undefined {
    let canGrow = true;
    // Indexed, not a copy of the list: this runs for every request.
    for (let i = 0; i < this.#connections.length; ) {
      const c = this.#connections[i]!;
      if (!c.usable) {
        // Went away (GOAWAY) or was retired: it finishes its streams, we look elsewhere.
        this.#connections.splice(i, 1);
        this.#retired.add(c);
        continue;
      }
      if (c.capacity > 0) return c;
      // A connection still connecting or not yet authenticated will have room soon: wait for it
      // rather than opening more (Apple discourages connection churn).
      if (!c.open) canGrow = false;
      i++;
    }
    if (this.#closed || !canGrow || this.#connections.length >= this.#options.maxConnections) return undefined;
    this.#connections.push(
      new ApnsConnection({
        origin: this.#options.origin,
        tls: this.#options.tls,
        maxStreams: this.#options.maxStreams,
        onIdle: () => this.#pump(),
        onClosed: (c, orphans, connectError) => {
          this.#forget(c);
          this.#retired.delete(c);
          if (connectError !== undefined) {
            // Never connected: answer everything waiting now (the engine retries with backoff)
            // instead of reconnecting in a tight loop.
            for (const request of [...orphans, ...this.#queue.splice(0)]) {
              request.done({ kind: 'no-response', reason: 'connection', error: connectError });
            }
            return;
          }
          for (const request of orphans) request.resolve({ kind: 'no-response', reason: 'connection', error: 'the APNs connection closed' });
          this.#pump();
        },
      }),
    );
    return undefined;
  }

  #forget(connection: ApnsConnection): void {
    const i = this.#connections.indexOf(connection);
    if (i >= 0) this.#connections.splice(i, 1);
  }

  #sweep(): void {
    const now = Date.now();
    for (const c of [...this.#connections]) c.expire(now - this.#options.requestTimeoutMs);
    if (now - this.#lastPing >= this.#options.pingIntervalMs) {
      this.#lastPing = now;
      for (const c of this.#connections) c.ping(this.#options.requestTimeoutMs);
    }
  }
}
