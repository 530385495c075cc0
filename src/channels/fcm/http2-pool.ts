import http2, { type ClientHttp2Session, type OutgoingHttpHeaders, type IncomingHttpHeaders } from 'node:http2';

/**
 * A few long-lived HTTP/2 connections to one origin, with requests multiplexed over them.
 *
 * firebase-admin's `sendEach` opens a fresh HTTP/2 session per call and sends at most 100
 * messages at a time over it (https://github.com/firebase/firebase-admin-node/blob/master/src/messaging/messaging.ts);
 * here sessions stay open across calls, a request goes to the least busy session that still has
 * room under the server's SETTINGS_MAX_CONCURRENT_STREAMS, a new session opens only when every
 * open one is full, and beyond `maxSessions` requests wait in a queue for a free stream.
 *
 * GOAWAY (RFC 9113 §6.8): the session takes no new requests, and the streams it already carries
 * are treated by their id. Those at or below the GOAWAY's last-stream-id may still be answered —
 * they wait for their answer here, never sent again elsewhere meanwhile (that would deliver a
 * message twice). Those above it, and any stream the server resets with REFUSED_STREAM, were not
 * processed (§8.7): they are sent again at once on another session, without costing the caller an
 * attempt. A session that fails outright fails its unanswered requests (the caller turns that into
 * a retry verdict: at least once).
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
/** Times a refused (never processed) request is sent again at once before it fails. */
const MAX_REFUSED_RESENDS = 6;

/** How one try on a session ended: an answer, or no answer — refused (safe to resend) or not. */
type Attempt = { readonly response: Http2Response } | { readonly error: Error; readonly refused: boolean };

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
    for (let resends = 0; ; resends++) {
      const slot = await this.#acquire();
      if (slot.active++ === 0) slot.session.ref();
      let attempt: Attempt;
      try {
        attempt = await this.#send(slot, headers, body);
      } finally {
        // An idle pooled session must not keep the process alive; a busy one must.
        if (--slot.active === 0 && !slot.session.destroyed) slot.session.unref();
        this.#wake();
      }
      if ('response' in attempt) return attempt.response;
      if (!attempt.refused || resends >= MAX_REFUSED_RESENDS || this.#closed) throw attempt.error;
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

  #send(slot: Slot, headers: OutgoingHttpHeaders, body: string | Buffer): Promise<Attempt> {
    return new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = slot.session.request(headers);
      } catch (err) {
        // The session went away (GOAWAY seen before our listener ran) or ran out of stream ids
        // (2^31): retire it, let its in-flight streams finish. Nothing was sent: resend elsewhere.
        slot.retire();
        slot.session.close();
        return resolve({ error: err instanceof Error ? err : new Error(String(err)), refused: true });
      }
      let status = 0;
      let settled = false;
      let responseHeaders: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        // REFUSED_STREAM: reset by the server unprocessed, or closed by a GOAWAY whose
        // last-stream-id is below this stream (nghttp2 closes those with this code).
        resolve({ error, refused: stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM && status === 0 });
      };
      stream.setTimeout(this.#timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      stream.on('response', (h) => {
        status = Number(h[':status']);
        responseHeaders = h;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (status === 0) return fail(new Error('HTTP/2 stream ended without a response'));
        if (settled) return;
        settled = true;
        resolve({ response: { status, headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') } });
      });
      stream.on('close', () => fail(new Error(`HTTP/2 stream closed before its response ended (code ${stream.rstCode})`)));
      stream.on('error', (err) => fail(err));
      stream.end(body);
    });
  }
}
