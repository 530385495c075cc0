import http2, { type ClientHttp2Session, type OutgoingHttpHeaders, type IncomingHttpHeaders } from 'node:http2';

/**
 * A few long-lived HTTP/2 connections to one origin, with requests multiplexed over them.
 *
 * firebase-admin's `sendEach` opens a fresh HTTP/2 session per call and sends at most 100
 * messages at a time over it (https://github.com/firebase/firebase-admin-node/blob/master/src/messaging/messaging.ts);
 * here sessions stay open across calls, a request goes to the least busy session that still has
 * room under the server's SETTINGS_MAX_CONCURRENT_STREAMS, a new session opens only when every
 * open one is full, and beyond `maxSessions` requests wait in a queue for a free stream.
 * A session that receives GOAWAY or fails is dropped and its in-flight requests fail (the caller
 * turns that into a retry verdict).
 */
export interface Http2PoolOptions {
  readonly maxSessions?: number;
  /** Extra trusted CA (PEM) — fakes in in-process tests; processes use NODE_EXTRA_CA_CERTS. */
  readonly ca?: string | Buffer | undefined;
  readonly requestTimeoutMs?: number;
}

export interface Http2Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface Slot {
  readonly session: ClientHttp2Session;
  active: number;
  ready: boolean;
  dead: boolean;
  /** Take the session out of the pool (GOAWAY, error, close, out of stream ids). */
  retire: () => void;
}

/** Until the server's SETTINGS arrive; Google's front ends advertise 100. */
const DEFAULT_STREAMS = 100;

export class Http2Pool {
  readonly origin: string;
  readonly #maxSessions: number;
  readonly #ca: string | Buffer | undefined;
  readonly #timeoutMs: number;
  readonly #slots: Slot[] = [];
  readonly #waiting: Array<() => void> = [];
  #closed = false;

  constructor(origin: string, options: Http2PoolOptions = {}) {
    this.origin = origin;
    this.#maxSessions = options.maxSessions ?? 4;
    this.#ca = options.ca;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** Open sessions (for tests and metrics). */
  get sessions(): number {
    return this.#slots.filter((s) => !s.dead).length;
  }

  async request(headers: OutgoingHttpHeaders, body: string | Buffer): Promise<Http2Response> {
    const slot = await this.#acquire();
    if (slot.active++ === 0) slot.session.ref();
    try {
      return await this.#send(slot, headers, body);
    } finally {
      // An idle pooled session must not keep the process alive; a busy one must.
      if (--slot.active === 0 && !slot.session.destroyed) slot.session.unref();
      this.#wake();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#waiting.splice(0)) wake();
    await Promise.all(
      this.#slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            slot.dead = true;
            if (slot.session.closed || slot.session.destroyed) return resolve();
            // close() lets in-flight streams finish; destroy after a grace period regardless.
            const timer = setTimeout(() => slot.session.destroy(), 5_000);
            slot.session.close(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    this.#slots.length = 0;
  }

  #capacity(slot: Slot): number {
    const remote = slot.ready ? slot.session.remoteSettings.maxConcurrentStreams : undefined;
    return remote && remote > 0 ? Math.min(remote, 1000) : DEFAULT_STREAMS;
  }

  async #acquire(): Promise<Slot> {
    for (;;) {
      if (this.#closed) throw new Error('connection pool closed');
      let best: Slot | undefined;
      for (const slot of this.#slots) {
        if (slot.dead || slot.active >= this.#capacity(slot)) continue;
        if (!best || slot.active < best.active) best = slot;
      }
      // Fill open sessions before opening another: each costs a TLS handshake.
      if (best && (best.active < this.#capacity(best) / 2 || this.#slots.length >= this.#maxSessions)) return best;
      if (this.#slots.length < this.#maxSessions) return this.#open();
      if (best) return best;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  #wake(): void {
    this.#waiting.shift()?.();
  }

  #open(): Slot {
    const session = http2.connect(this.origin, this.#ca ? { ca: this.#ca } : {});
    const slot: Slot = { session, active: 0, ready: false, dead: false, retire: () => drop() };
    const drop = (): void => {
      if (slot.dead) return;
      slot.dead = true;
      const i = this.#slots.indexOf(slot);
      if (i >= 0) this.#slots.splice(i, 1);
      // Requests waiting for room may now open a replacement session.
      for (const wake of this.#waiting.splice(0)) wake();
    };
    session.on('remoteSettings', () => {
      slot.ready = true;
      this.#wake();
    });
    session.on('goaway', drop);
    session.on('close', drop);
    session.on('error', drop);
    this.#slots.push(slot);
    return slot;
  }

  #send(slot: Slot, headers: OutgoingHttpHeaders, body: string | Buffer): Promise<Http2Response> {
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = slot.session.request(headers);
      } catch (err) {
        // E.g. ERR_HTTP2_OUT_OF_STREAMS after 2^31 streams: retire the session, let in-flight ones finish.
        slot.retire();
        slot.session.close();
        return reject(err instanceof Error ? err : new Error(String(err)));
      }
      let status = 0;
      let settled = false;
      let responseHeaders: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.setTimeout(this.#timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      stream.on('response', (h) => {
        status = Number(h[':status']);
        responseHeaders = h;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        settled = true;
        if (status === 0) return reject(new Error('HTTP/2 stream ended without a response'));
        resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') });
      });
      stream.on('close', () => {
        if (!settled) reject(new Error(`HTTP/2 stream closed before its response ended (code ${stream.rstCode})`));
        settled = true;
      });
      stream.on('error', (err) => {
        settled = true;
        reject(err);
      });
      stream.end(body);
    });
  }
}
