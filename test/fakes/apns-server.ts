import http2, { type Http2Session, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { jwtVerify, decodeProtectedHeader } from 'jose';

/**
 * A fake APNs provider API: HTTP/2 over TLS that checks what Apple checks (provider token
 * signature and claims or the client certificate, every request header rule, payload size) and
 * answers like Apple, including SETTINGS_MAX_CONCURRENT_STREAMS = 1 until a connection's first
 * authenticated request. Tests script answers per request: any status + reason, GOAWAY, stall,
 * dropped connection.
 */

export interface TestPki {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Client certificate + key as PKCS#12, base64, passphrase `p12pass`. */
  readonly clientP12: string;
  readonly p12Passphrase: string;
  /** A certificate + key the CA did not sign. */
  readonly strangerCert: string;
  readonly strangerKey: string;
  /** The .p8 token key (PKCS#8 PEM) and its public half. */
  readonly tokenKey: string;
  readonly tokenPublicKey: KeyObject;
  cleanup(): void;
}

/** Test certificates made with openssl in a temporary directory (never committed). */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-apns-pki-'));
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ecKey, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=herald test CA', '-days', '2');
  writeFileSync(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn, ext] of [['server', 'localhost', 'server.ext'], ['client', 'Apple Push Services: com.example.app', 'client.ext']] as const) {
    ssl('req', ...ecKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(ext));
  }
  ssl('req', '-x509', ...ecKey, '-keyout', f('stranger.key'), '-out', f('stranger.crt'), '-subj', '/CN=stranger', '-days', '2');
  ssl('pkcs12', '-export', '-in', f('client.crt'), '-inkey', f('client.key'), '-out', f('client.p12'), '-passout', 'pass:p12pass');
  const token = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(f('token.p8'), token.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return loadTestPki(dir);
}

/** The PKI createTestPki made in `dir` (for a fake running in another process). */
export function loadTestPki(dir: string): TestPki {
  const f = (name: string) => path.join(dir, name);
  const read = (name: string) => readFileSync(f(name), 'utf8');
  const tokenKey = read('token.p8');
  return {
    dir,
    ca: read('ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    clientP12: readFileSync(f('client.p12')).toString('base64'),
    p12Passphrase: 'p12pass',
    strangerCert: read('stranger.crt'),
    strangerKey: read('stranger.key'),
    tokenKey,
    tokenPublicKey: createPublicKey(tokenKey),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface FakeRequest {
  readonly token: string;
  readonly headers: IncomingHttpHeaders;
  readonly payload: Record<string, unknown> | undefined;
  readonly apnsId: string;
  readonly session: number;
}

export type FakeAction =
  | { readonly status: number; readonly reason?: string; readonly timestamp?: number }
  | { readonly goaway: true }
  | { readonly stall: true }
  | { readonly drop: true };

export interface FakeApnsOptions {
  readonly pki: TestPki;
  readonly auth: 'token' | 'certificate';
  readonly bundleId: string;
  readonly teamId?: string;
  readonly keyId?: string;
  /** Streams allowed once a connection has authenticated (Apple: about 1000). */
  readonly maxStreams?: number;
  /** Keep every request in `received` (default true; benchmarks count only). */
  readonly record?: boolean;
}

const PUSH_TYPES = new Set(['alert', 'background', 'voip', 'complication', 'fileprovider', 'mdm', 'location', 'liveactivity', 'pushtotalk', 'controls', 'widgets']);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Rule = { readonly status: number; readonly reason: string } | undefined;

interface SessionState {
  readonly id: number;
  authenticated: boolean;
  readonly open: Set<ServerHttp2Stream>;
  /** After GOAWAY: the last stream id processed; later ones are refused. */
  lastStreamId: number | undefined;
}

export class FakeApns {
  readonly options: FakeApnsOptions;
  /** Every request that passed the checks, in arrival order. */
  readonly received: FakeRequest[] = [];
  /** apns-id → times answered 200. */
  readonly delivered = new Map<string, number>();
  /** Protocol rules the client broke (each also answered as Apple would). */
  readonly violations: string[] = [];
  sessions = 0;
  /** Requests that passed the checks. */
  count = 0;
  /** Most streams open at once on a connection before / after it authenticated. */
  maxOpenBeforeAuth = 0;
  maxOpen = 0;
  /** Provider tokens with an older `iat` (seconds) are answered ExpiredProviderToken. */
  rejectTokensIssuedBefore = 0;
  script: (request: FakeRequest) => FakeAction | undefined = () => undefined;
  readonly #server: http2.Http2SecureServer;
  readonly #sessions = new Map<Http2Session, SessionState>();
  /** Verified provider tokens → iat (APNs, too, validates a token once, not per request). */
  readonly #verified = new Map<string, number>();
  #port = 0;
  #goAway: {
    readonly held: number;
    readonly answered: number;
    readonly requests: Array<{ readonly stream: ServerHttp2Stream; readonly state: SessionState; readonly token: string; readonly process: () => void }>;
    readonly done: (r: { lastStreamId: number; answered: string[]; refused: string[] }) => void;
  } | undefined;

  constructor(options: FakeApnsOptions) {
    this.options = options;
    this.#server = http2.createSecureServer({
      cert: options.pki.serverCert,
      key: options.pki.serverKey,
      ca: options.pki.ca,
      requestCert: options.auth === 'certificate',
      rejectUnauthorized: false, // answered as APNs does: 403 BadCertificate
      settings: { maxConcurrentStreams: 1 },
    });
    this.#server.on('session', (session) => {
      const state: SessionState = { id: ++this.sessions, authenticated: false, open: new Set(), lastStreamId: undefined };
      this.#sessions.set(session, state);
      session.on('close', () => this.#sessions.delete(session));
      session.on('error', () => undefined);
    });
    this.#server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      stream.on('error', () => undefined);
      const state = this.#sessions.get(stream.session!);
      if (state) {
        state.open.add(stream);
        stream.on('close', () => state.open.delete(stream));
        const open = state.open.size;
        if (state.authenticated) this.maxOpen = Math.max(this.maxOpen, open);
        else {
          this.maxOpenBeforeAuth = Math.max(this.maxOpenBeforeAuth, open);
          if (open > 1) this.violations.push(`${open} streams open before the connection authenticated`);
        }
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => void this.#handle(stream, headers, Buffer.concat(chunks)));
    });
  }

  get origin(): string {
    return `https://localhost:${this.#port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as { port: number }).port;
    return this;
  }

  async close(): Promise<void> {
    for (const session of this.#sessions.keys()) session.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /**
   * An APNs server shutting down as RFC 9113 §6.8 describes it: hold the next `held` requests of
   * one connection unanswered, then send GOAWAY (NO_ERROR, reason Shutdown) with a last-stream-id
   * between them, so `answered` are at or below it and the rest above. Those at or below are
   * processed and answered after the GOAWAY; those above are refused (RST_STREAM REFUSED_STREAM,
   * never recorded); then the connection closes. Resolves with the device tokens of each kind.
   */
  goAwayAfter(held: number, answered = Math.floor(held / 2)): Promise<{ lastStreamId: number; answered: string[]; refused: string[] }> {
    return new Promise((done) => {
      this.#goAway = { held, answered, requests: [], done };
    });
  }

  /** Drop every connection (a network failure from the client's point of view). */
  dropAll(): void {
    for (const session of this.#sessions.keys()) session.destroy();
  }

  #handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: Buffer): void {
    const state = this.#sessions.get(stream.session!);
    if (!state || stream.closed) return;
    // Synchronous unless a new provider token needs its signature checked.
    const rule = this.#check(stream, headers, raw, state);
    if (rule instanceof Promise) void rule.then((r) => this.#answer(stream, headers, raw, state, r));
    else this.#answer(stream, headers, raw, state, rule);
  }

  #answer(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: Buffer, state: SessionState, rule: Rule): void {
    const refused = () => state.lastStreamId !== undefined && (stream.id ?? 0) > state.lastStreamId;
    const apnsId = String(headers['apns-id'] ?? '');
    const answer = (status: number, reason?: string, extra: Record<string, unknown> = {}) => {
      if (stream.closed) return;
      stream.respond({ ':status': status, 'apns-id': apnsId || '00000000-0000-4000-8000-000000000000' });
      stream.end(reason ? JSON.stringify({ reason, ...extra }) : undefined);
    };
    if (stream.closed || refused()) return;
    if (rule) {
      if (rule.status !== 403) this.violations.push(`${rule.status} ${rule.reason}`);
      return answer(rule.status, rule.reason);
    }
    if (!state.authenticated) {
      state.authenticated = true;
      stream.session!.settings({ maxConcurrentStreams: this.options.maxStreams ?? 1000 });
    }
    const token = String(headers[':path']).slice('/3/device/'.length);
    let payload: Record<string, unknown> | undefined;
    if (this.options.record !== false) payload = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    const request: FakeRequest = { token, headers, payload, apnsId, session: state.id };
    if (this.#goAway && this.#hold(stream, state, request, () => this.#process(stream, headers, state, request, answer))) return;
    this.#process(stream, headers, state, request, answer);
  }

  /** A request that passed every check: record it and answer as scripted (200 by default). */
  #process(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, state: SessionState, request: FakeRequest, answer: (status: number, reason?: string, extra?: Record<string, unknown>) => void): void {
    const { payload, apnsId } = request;
    this.count++;
    if (this.options.record !== false) this.received.push(request);
    const action = this.script(request) ?? { status: 200 };
    if ('stall' in action) return;
    if ('drop' in action) return void stream.session!.destroy();
    if ('goaway' in action) {
      // As a server shutting down does: refuse this stream and everything after it.
      const session = stream.session!;
      state.lastStreamId = (stream.id ?? 0) - 2;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, state.lastStreamId, Buffer.from(JSON.stringify({ reason: 'Shutdown' })));
      for (const s of state.open) if ((s.id ?? 0) > state.lastStreamId) s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      setTimeout(() => session.close(), 50).unref();
      return;
    }
    // Apple accepts a background push without content-available, then never wakes the app for it.
    if (payload && headers['apns-push-type'] === 'background' && (payload.aps as Record<string, unknown> | undefined)?.['content-available'] !== 1) {
      this.violations.push('background push without aps.content-available: 1');
    }
    if (action.status === 200 && this.options.record !== false) this.delivered.set(apnsId, (this.delivered.get(apnsId) ?? 0) + 1);
    answer(action.status, 'reason' in action ? action.reason : undefined, action.timestamp !== undefined ? { timestamp: action.timestamp } : {});
  }

  /** Holds a request for a scripted GOAWAY; false when it is not to be held (another connection). */
  #hold(stream: ServerHttp2Stream, state: SessionState, request: FakeRequest, process: () => void): boolean {
    const plan = this.#goAway!;
    if (plan.requests.length > 0 && plan.requests[0]!.state !== state) return false;
    plan.requests.push({ stream, state, token: request.token, process });
    if (plan.requests.length < plan.held) return true;
    this.#goAway = undefined;
    const held = [...plan.requests].sort((a, b) => (a.stream.id ?? 0) - (b.stream.id ?? 0));
    const lastStreamId = held[plan.answered - 1]?.stream.id ?? 0;
    const session = stream.session!;
    state.lastStreamId = lastStreamId;
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, lastStreamId, Buffer.from(JSON.stringify({ reason: 'Shutdown' })));
    const below = held.filter((r) => (r.stream.id ?? 0) <= lastStreamId);
    const above = held.filter((r) => (r.stream.id ?? 0) > lastStreamId);
    // The client must wait for these answers rather than send the requests elsewhere.
    setTimeout(() => {
      for (const s of state.open) if ((s.id ?? 0) > lastStreamId) s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      for (const r of below) r.process();
      session.close();
      setTimeout(() => session.destroy(), 2_000).unref();
      plan.done({ lastStreamId, answered: below.map((r) => r.token), refused: above.map((r) => r.token) });
    }, 100);
    return true;
  }

  /** Apple's request rules, in the order APNs applies them; undefined when the request is fine. */
  #check(stream: ServerHttp2Stream, h: IncomingHttpHeaders, raw: Buffer, state: SessionState): Rule | Promise<Rule> {
    if (h[':method'] !== 'POST') return { status: 405, reason: 'MethodNotAllowed' };
    const match = /^\/3\/device\/(.*)$/.exec(String(h[':path']));
    if (!match) return { status: 404, reason: 'BadPath' };
    if (!/^[0-9a-f]{64,200}$/i.test(match[1]!)) return { status: 400, reason: 'BadDeviceToken' };
    const auth = this.#authenticate(stream, h, state);
    if (auth instanceof Promise) return auth.then((problem) => (problem ? { status: 403, reason: problem } : this.#rules(h, raw)));
    if (auth) return { status: 403, reason: auth };
    return this.#rules(h, raw);
  }

  #rules(h: IncomingHttpHeaders, raw: Buffer): Rule {
    const topic = h['apns-topic'];
    if (typeof topic !== 'string' || topic === '') return { status: 400, reason: 'MissingTopic' };
    if (!topic.startsWith(this.options.bundleId)) return { status: 400, reason: 'TopicDisallowed' };
    const pushType = String(h['apns-push-type'] ?? '');
    if (!PUSH_TYPES.has(pushType)) return { status: 400, reason: 'InvalidPushType' };
    if (pushType === 'voip' && topic !== `${this.options.bundleId}.voip`) return { status: 400, reason: 'BadTopic' };
    const priority = h['apns-priority'];
    if (priority !== undefined && priority !== '5' && priority !== '10' && priority !== '1') return { status: 400, reason: 'BadPriority' };
    if (pushType === 'background' && priority !== '5') return { status: 400, reason: 'BadPriority' };
    if (h['apns-id'] !== undefined && !UUID_RE.test(String(h['apns-id']))) return { status: 400, reason: 'BadMessageId' };
    if (h['apns-expiration'] !== undefined && !/^\d+$/.test(String(h['apns-expiration']))) return { status: 400, reason: 'BadExpirationDate' };
    const collapse = h['apns-collapse-id'];
    if (collapse !== undefined && Buffer.byteLength(String(collapse)) > 64) return { status: 400, reason: 'BadCollapseId' };
    if (raw.length === 0) return { status: 400, reason: 'PayloadEmpty' };
    if (raw.length > (pushType === 'voip' ? 5120 : 4096)) return { status: 413, reason: 'PayloadTooLarge' };
    try {
      const body = JSON.parse(raw.toString('utf8')) as unknown;
      if (typeof body !== 'object' || body === null || typeof (body as Record<string, unknown>).aps !== 'object') {
        return { status: 400, reason: 'BadPayload' };
      }
    } catch {
      return { status: 400, reason: 'BadPayload' };
    }
    return undefined;
  }

  #authenticate(stream: ServerHttp2Stream, h: IncomingHttpHeaders, state: SessionState): string | undefined | Promise<string | undefined> {
    if (this.options.auth === 'certificate') {
      const socket = stream.session!.socket as TLSSocket;
      return socket.authorized ? undefined : 'BadCertificate';
    }
    const header = h.authorization;
    if (typeof header !== 'string' || !header.startsWith('bearer ')) return 'MissingProviderToken';
    const jwt = header.slice('bearer '.length);
    const known = this.#verified.get(jwt);
    if (known !== undefined) return known < this.rejectTokensIssuedBefore ? 'ExpiredProviderToken' : undefined;
    return this.#verify(jwt);
  }

  async #verify(jwt: string): Promise<string | undefined> {
    try {
      const { kid, alg } = decodeProtectedHeader(jwt);
      if (alg !== 'ES256' || kid !== (this.options.keyId ?? 'KEYID12345')) return 'InvalidProviderToken';
      // Apple checks iat itself (max one hour); our clock is the test's, so no exp/iat checks here.
      const { payload } = await jwtVerify(jwt, this.options.pki.tokenPublicKey, { algorithms: ['ES256'], clockTolerance: 10 ** 9 });
      if (payload.iss !== (this.options.teamId ?? 'TEAMID1234') || typeof payload.iat !== 'number') return 'InvalidProviderToken';
      this.#verified.set(jwt, payload.iat);
      if (payload.iat < this.rejectTokensIssuedBefore) return 'ExpiredProviderToken';
    } catch {
      return 'InvalidProviderToken';
    }
    return undefined;
  }
}

export async function startFakeApns(options: FakeApnsOptions): Promise<FakeApns> {
  return new FakeApns(options).listen();
}
