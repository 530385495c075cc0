import http2, { type ClientHttp2Session, type ClientHttp2Stream, type SecureClientSessionOptions } from 'node:http2';

/**
 * One long-lived HTTP/2 connection to APNs. Apple asks providers to keep connections open rather
 * than connect per notification, and advertises SETTINGS_MAX_CONCURRENT_STREAMS = 1 until the
 * first request has authenticated, then about 1000; we never open more streams than the server
 * currently allows, so requests wait in the pool instead of being refused.
 * https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns
 */

export interface ApnsResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly apnsId: string | undefined;
  readonly body: string;
  readonly connection: ApnsConnection;
}

/** The request never got an answer: the connection died, went away or the request timed out. */
export interface ApnsNoResponse {
  readonly kind: 'no-response';
  /**
   * refused: the server certainly did not process it (REFUSED_STREAM, cut off by GOAWAY);
   * connection: the connection failed mid-request (APNs may or may not have it);
   * timeout: no answer within the request timeout.
   */
  readonly reason: 'refused' | 'connection' | 'timeout';
  readonly error: string;
}

export type ApnsResult = ApnsResponse | ApnsNoResponse;

export interface PendingRequest {
  /** Complete request headers, `:method` and `:path` included. */
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Settles through the pool, which may move the request to another connection. */
  readonly resolve: (result: ApnsResult) => void;
  /** Settles for good. */
  readonly done: (result: ApnsResult) => void;
  /** Times this request was moved to another connection after its connection failed. */
  moves: number;
  startedAt: number;
  stream?: ClientHttp2Stream | undefined;
  /** Response status once APNs answered (0 before). */
  status?: number | undefined;
  apnsId?: string | undefined;
  /** Response body chunks (error answers only). */
  chunks?: Buffer[] | undefined;
}

export interface ConnectionOptions {
  readonly origin: string;
  readonly tls: SecureClientSessionOptions;
  readonly maxStreams: number;
  readonly onIdle: (connection: ApnsConnection) => void;
  /** `connectError` is set when the connection never came up (refused, TLS handshake failed). */
  readonly onClosed: (connection: ApnsConnection, inFlight: PendingRequest[], connectError: string | undefined) => void;
}

let nextId = 1;

export class ApnsConnection {
  readonly id = nextId++;
  readonly #session: ClientHttp2Session;
  readonly #options: ConnectionOptions;
  readonly #inFlight = new Set<PendingRequest>();
  #connected = false;
  /** No new streams (GOAWAY received, retired after 503, or closed). */
  #draining = false;
  #closed = false;
  #lastError: string | undefined;
  /**
   * The server's SETTINGS_MAX_CONCURRENT_STREAMS, kept from the 'remoteSettings' event (the
   * session's remoteSettings getter copies them out of nghttp2 on every call: too slow per
   * request). 1 until the server says otherwise, as APNs starts.
   */
  #remoteMax = 1;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.#session = http2.connect(options.origin, { ...options.tls, peerMaxConcurrentStreams: options.maxStreams });
    this.#session.on('connect', () => {
      this.#connected = true;
      options.onIdle(this);
    });
    this.#session.on('remoteSettings', (settings: http2.Settings) => {
      // Absent means unlimited (RFC 9113 §6.5.2); our own cap applies anyway.
      this.#remoteMax = settings.maxConcurrentStreams ?? options.maxStreams;
      options.onIdle(this);
    });
    // GOAWAY: finish what the server accepted, start nothing new here. Node fails the streams
    // the server will not process, and the pool moves them to a new connection.
    this.#session.on('goaway', () => this.retire());
    this.#session.on('error', (err: Error) => {
      this.#lastError = err.message;
      this.#teardown();
    });
    this.#session.on('close', () => this.#teardown());
    this.#session.unref();
  }

  /** Streams this connection may still open now. */
  get capacity(): number {
    if (!this.#connected || this.#draining || this.#session.closed) return 0;
    const allowed = Math.min(this.#remoteMax, this.#options.maxStreams);
    return allowed - this.#inFlight.size;
  }

  /** Authenticated: the server lifted the one-stream limit of a new connection. */
  get open(): boolean {
    return this.#connected && !this.#draining && this.#remoteMax > 1;
  }

  get usable(): boolean {
    return !this.#draining && !this.#session.closed && !this.#session.destroyed;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  send(request: PendingRequest): void {
    let stream: ClientHttp2Stream;
    try {
      stream = this.#session.request(request.headers);
    } catch (err) {
      // The session is going away (GOAWAY seen by nghttp2 before our 'goaway' listener ran):
      // take no more streams here.
      this.retire();
      request.resolve({ kind: 'no-response', reason: 'refused', error: (err as Error).message });
      return;
    }
    request.stream = stream;
    request.startedAt = Date.now();
    this.#inFlight.add(request);
    request.status = 0;
    request.chunks = undefined;
    stream.on('response', (headers) => {
      request.status = Number(headers[':status']);
      const id = headers['apns-id'];
      request.apnsId = Array.isArray(id) ? id[0] : id;
    });
    // 200 answers have no body; only errors carry a small JSON one.
    stream.on('data', (chunk: Buffer) => {
      (request.chunks ??= []).push(chunk);
    });
    stream.on('close', () => {
      if (!this.#inFlight.delete(request)) return;
      request.stream = undefined;
      if (request.status) {
        request.resolve(this.#response(request));
      } else {
        // REFUSED_STREAM, or a stream GOAWAY cut off: the server did not process it (RFC 9113 §8.7).
        const reason = stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM ? 'refused' : 'connection';
        // Refused streams come with a GOAWAY whose event may not have reached us yet.
        if (reason === 'refused' && (this.#session.closed || this.#session.destroyed)) this.retire();
        request.resolve({ kind: 'no-response', reason, error: `stream closed without a response (code ${stream.rstCode})` });
      }
      this.#options.onIdle(this);
    });
    stream.on('error', () => undefined); // 'close' follows and decides
    stream.end(request.body);
  }

  /** Cancel requests older than the timeout; they come back as no-response. */
  expire(olderThan: number): void {
    for (const request of this.#inFlight) {
      if (request.startedAt < olderThan) {
        this.#inFlight.delete(request);
        request.stream?.close(http2.constants.NGHTTP2_CANCEL);
        request.resolve({ kind: 'no-response', reason: 'timeout', error: 'APNs did not answer in time' });
      }
    }
  }

  /** PING keep-alive; a connection that does not answer is closed and replaced. */
  ping(timeoutMs: number): void {
    if (this.#closed || !this.#connected) return;
    const timer = setTimeout(() => this.destroy(), timeoutMs);
    timer.unref();
    const sent = this.#session.ping((err) => {
      clearTimeout(timer);
      if (err) this.destroy();
    });
    if (!sent) clearTimeout(timer);
  }

  /** Accept nothing new; close once the in-flight streams are done. */
  retire(): void {
    if (this.#draining) return;
    this.#draining = true;
    if (!this.#closed) this.#session.close();
  }

  destroy(): void {
    this.#draining = true;
    if (!this.#closed) this.#session.destroy();
    this.#teardown();
  }

  /** Retire, wait up to `graceMs` for in-flight streams, then destroy. */
  async close(graceMs: number): Promise<void> {
    if (this.#closed) return;
    const closed = new Promise<void>((resolve) => this.#session.once('close', () => resolve()));
    this.retire();
    const timer = setTimeout(() => this.destroy(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  #response(request: PendingRequest): ApnsResponse {
    const body = request.chunks ? Buffer.concat(request.chunks).toString('utf8') : '';
    return { kind: 'response', status: request.status ?? 0, apnsId: request.apnsId, body, connection: this };
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#draining = true;
    if (!this.#session.destroyed) this.#session.destroy();
    // Requests APNs already answered keep their answer; only the unanswered are handed back.
    const orphans: PendingRequest[] = [];
    for (const request of this.#inFlight) {
      if (request.status) request.resolve(this.#response(request));
      else orphans.push(request);
    }
    this.#inFlight.clear();
    this.#options.onClosed(this, orphans, this.#connected ? undefined : `cannot connect to ${this.#options.origin}: ${this.#lastError ?? 'connection closed'}`);
  }
}
