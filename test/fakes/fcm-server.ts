import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { importSPKI, jwtVerify } from 'jose';
import type { FcmServiceAccount } from '../../src/apps/types.ts';

/**
 * A fake FCM: the OAuth 2.0 token endpoint (JWT bearer grant, RS256 assertion verified against
 * the service account's public key) and the HTTP v1 send endpoint, over real HTTP/2 + TLS with a
 * certificate from a CA generated at test time. The send endpoint checks the bearer token, the
 * message schema and string-only data, and answers with FCM's error envelopes when scripted to.
 */
export interface TestCertificate {
  readonly ca: string;
  readonly key: string;
  readonly cert: string;
  /** The CA in a file (for NODE_EXTRA_CA_CERTS in spawned processes). */
  readonly caFile: string;
  cleanup(): void;
}

/** A CA and a server certificate for localhost / 127.0.0.1, made with openssl in os.tmpdir(). */
export function makeTestCertificate(): TestCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-tls-'));
  const f = (name: string) => path.join(dir, name);
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  writeFileSync(f('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=herald test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
    '-keyout', f('server.key'), '-out', f('server.csr'));
  run('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2',
    '-extfile', f('san.ext'), '-out', f('server.pem'));
  return {
    ca: readFileSync(f('ca.pem'), 'utf8'),
    key: readFileSync(f('server.key'), 'utf8'),
    cert: readFileSync(f('server.pem'), 'utf8'),
    caFile: f('ca.pem'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ScriptedError {
  readonly status: number;
  /** FcmError errorCode in the envelope's details (UNREGISTERED, QUOTA_EXCEEDED, ...). */
  readonly errorCode?: string;
  readonly rpcStatus?: string;
  readonly message?: string;
  readonly retryAfter?: string;
  /** Adds a google.rpc.BadRequest field violation on this field. */
  readonly field?: string;
}

export interface ReceivedMessage {
  readonly project: string;
  /** The access token the message was sent with. */
  readonly accessToken: string;
  readonly validateOnly: boolean;
  readonly message: Record<string, unknown>;
}

/** What a scripted GOAWAY did (see FakeFcmServer.goAwayAfter). */
export interface GoAwayReport {
  readonly lastStreamId: number;
  /** Registration tokens answered 200 after the GOAWAY (stream ids at or below lastStreamId). */
  readonly answered: readonly string[];
  /** Tokens refused (stream ids above lastStreamId): never processed, never recorded. */
  readonly refused: readonly string[];
}

interface HeldSend {
  readonly streamId: number;
  readonly token: string;
  readonly session: ServerHttp2Session;
  readonly res: Http2ServerResponse;
  readonly answer: () => void;
}

export interface FakeFcmOptions {
  /** expires_in of issued access tokens. */
  readonly tokenLifetimeSeconds?: number;
  readonly project?: string;
}

const MESSAGE_FIELDS = new Set(['name', 'data', 'notification', 'android', 'webpush', 'apns', 'fcm_options', 'token', 'topic', 'condition']);

export class FakeFcmServer {
  readonly account: FcmServiceAccount;
  readonly certificate: TestCertificate;
  readonly received: ReceivedMessage[] = [];
  /** Scripted answers per registration token: `always` every time, otherwise consumed in order. */
  readonly scripts = new Map<string, { always?: ScriptedError; queue: ScriptedError[] }>();
  tokenRequests = 0;
  /** HTTP/2 sessions opened. */
  connections = 0;
  /** TLS handshakes completed (HTTP/2 and HTTP/1.1, token endpoint included). */
  tlsConnections = 0;
  tokenLifetimeSeconds: number;
  /** Make the token endpoint refuse the account (invalid_grant). */
  refuseGrants = false;
  /** Hold every send response this long (slow provider). */
  delayMs = 0;
  #server: http2.Http2SecureServer;
  #sessions = new Set<ServerHttp2Session>();
  #accessTokens = new Map<string, number>();
  #publicKey: string;
  #url = '';
  #sent = 0;
  /** Connections that sent GOAWAY → its last-stream-id: later streams are not processed. */
  #wentAway = new WeakMap<ServerHttp2Session, number>();
  #goAway: { readonly held: number; readonly answered: number; readonly sends: HeldSend[]; readonly done: (r: GoAwayReport) => void } | undefined;

  constructor(options: FakeFcmOptions = {}) {
    this.certificate = makeTestCertificate();
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.#publicKey = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.account = {
      type: 'service_account',
      project_id: options.project ?? 'herald-test',
      private_key_id: randomBytes(8).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: 'herald@herald-test.iam.gserviceaccount.com',
      token_uri: '', // set in start()
    };
    this.#server = http2.createSecureServer({ key: this.certificate.key, cert: this.certificate.cert, allowHTTP1: true });
    // Small responses must not wait for Nagle's algorithm (40 ms per round trip with delayed ACKs).
    this.#server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    this.#server.on('secureConnection', () => this.tlsConnections++);
    this.#server.on('session', (session) => {
      this.connections++;
      this.#sessions.add(session);
      session.on('close', () => this.#sessions.delete(session));
    });
    this.#server.on('request', (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.#error(res, { status: 500, errorCode: 'INTERNAL', message: String(err) });
      });
    });
  }

  get url(): string {
    return this.#url;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    this.#url = `https://localhost:${port}`;
    (this.account as { token_uri: string }).token_uri = `${this.#url}/token`;
    return this;
  }

  /** Answer every send to this token with the error. */
  failToken(token: string, error: ScriptedError): void {
    this.#script(token).always = error;
  }

  /** Answer the next sends to this token with these errors, one each, then normally. */
  failNext(token: string, ...errors: ScriptedError[]): void {
    this.#script(token).queue.push(...errors);
  }

  /** Send GOAWAY on every open connection (as a front end does before it restarts). */
  goAway(): void {
    for (const session of this.#sessions) session.goaway(http2.constants.NGHTTP2_NO_ERROR);
  }

  /**
   * A front end draining for a restart, as RFC 9113 §6.8 describes it: hold the next `held` sends
   * of one connection unanswered, then send GOAWAY (NO_ERROR) with a last-stream-id between them,
   * so `answered` of them are at or below it and the rest above. Those at or below are answered
   * (200, recorded) after the GOAWAY; those above are refused (RST_STREAM REFUSED_STREAM, never
   * recorded: the server did not process them); then the connection closes. Resolves with what
   * was answered and refused.
   */
  goAwayAfter(held: number, answered = Math.floor(held / 2)): Promise<GoAwayReport> {
    return new Promise((done) => {
      this.#goAway = { held, answered, sends: [], done };
    });
  }

  /** Forget issued access tokens (as if Google revoked them). */
  revokeAccessTokens(): void {
    this.#accessTokens.clear();
  }

  async close(): Promise<void> {
    for (const s of this.#sessions) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.certificate.cleanup();
  }

  #script(token: string) {
    let s = this.scripts.get(token);
    if (!s) this.scripts.set(token, (s = { queue: [] }));
    return s;
  }

  async #handle(req: Http2ServerRequest, res: Http2ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.method === 'POST' && req.url === '/token') return this.#token(body, res);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (res.destroyed || res.stream.destroyed) return;
    const match = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.url);
    if (req.method !== 'POST' || !match) return this.#error(res, { status: 404, rpcStatus: 'NOT_FOUND', message: 'no such path' });
    return this.#send(decodeURIComponent(match[1]!), req.headers.authorization, body, res);
  }

  async #token(body: string, res: Http2ServerResponse): Promise<void> {
    this.tokenRequests++;
    const form = new URLSearchParams(body);
    const refuse = (description: string) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_grant', error_description: description }));
    };
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return refuse('unsupported grant_type');
    if (this.refuseGrants) return refuse('Invalid JWT Signature.');
    try {
      const { payload } = await jwtVerify(form.get('assertion') ?? '', await importSPKI(this.#publicKey, 'RS256'), {
        issuer: this.account.client_email,
        audience: this.account.token_uri,
        algorithms: ['RS256'],
      });
      if (payload.scope !== 'https://www.googleapis.com/auth/firebase.messaging') return refuse('wrong scope');
      if (!payload.exp || !payload.iat || payload.exp - payload.iat > 3600) return refuse('bad lifetime');
    } catch (err) {
      return refuse(`Invalid JWT: ${(err as Error).message}`);
    }
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    this.#accessTokens.set(token, Date.now() + this.tokenLifetimeSeconds * 1000);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: token, expires_in: this.tokenLifetimeSeconds, token_type: 'Bearer' }));
  }

  #send(project: string, authorization: string | undefined, body: string, res: Http2ServerResponse): void {
    const bearer = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const expiry = bearer ? this.#accessTokens.get(bearer) : undefined;
    if (!expiry || expiry < Date.now()) {
      return this.#error(res, { status: 401, rpcStatus: 'UNAUTHENTICATED', message: 'Request had invalid authentication credentials.' });
    }
    if (project !== this.account.project_id) {
      return this.#error(res, { status: 403, rpcStatus: 'PERMISSION_DENIED', message: 'SenderId mismatch' });
    }
    let parsed: { message?: Record<string, unknown>; validate_only?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      return this.#error(res, { status: 400, rpcStatus: 'INVALID_ARGUMENT', message: 'Invalid JSON payload received.' });
    }
    const problem = schemaProblem(parsed);
    if (problem) return this.#error(res, { status: 400, errorCode: 'INVALID_ARGUMENT', message: problem.message, field: problem.field });
    const message = parsed.message!;
    const token = message.token as string;
    const script = this.scripts.get(token);
    const scripted = script?.queue.shift() ?? script?.always;
    if (scripted) return this.#error(res, scripted);
    const validateOnly = parsed.validate_only === true;
    const answer = () => {
      if (res.stream.destroyed) return;
      this.received.push({ project, accessToken: bearer!, validateOnly, message });
      res.writeHead(200, { 'content-type': 'application/json' });
      const id = validateOnly ? 'fake_message_for_dry_run' : `0:${Date.now()}%${(++this.#sent).toString(16)}`;
      res.end(JSON.stringify({ name: `projects/${project}/messages/${id}` }));
    };
    const wentAway = this.#wentAway.get(res.stream.session as ServerHttp2Session);
    if (wentAway !== undefined && (res.stream.id ?? 0) > wentAway) {
      res.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (this.#goAway && this.#hold({ streamId: res.stream.id ?? 0, token, session: res.stream.session as ServerHttp2Session, res, answer })) return;
    answer();
  }

  /** Holds a send for a scripted GOAWAY; false when it is not to be held (another connection). */
  #hold(send: HeldSend): boolean {
    const plan = this.#goAway!;
    if (plan.sends.length > 0 && plan.sends[0]!.session !== send.session) return false;
    plan.sends.push(send);
    if (plan.sends.length < plan.held) return true;
    this.#goAway = undefined;
    const sends = [...plan.sends].sort((a, b) => a.streamId - b.streamId);
    const lastStreamId = sends[plan.answered - 1]?.streamId ?? 0;
    const session = send.session;
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, lastStreamId);
    this.#wentAway.set(session, lastStreamId);
    const below = sends.filter((s) => s.streamId <= lastStreamId);
    const above = sends.filter((s) => s.streamId > lastStreamId);
    // The client must wait for these answers rather than send the requests elsewhere.
    setTimeout(() => {
      for (const s of above) if (!s.res.stream.destroyed) s.res.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      for (const s of below) s.answer();
      session.close();
      setTimeout(() => session.destroy(), 2_000).unref();
      plan.done({ lastStreamId, answered: below.map((s) => s.token), refused: above.map((s) => s.token) });
    }, 100);
    return true;
  }

  #error(res: Http2ServerResponse, e: ScriptedError): void {
    const details: unknown[] = [];
    if (e.errorCode) details.push({ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: e.errorCode });
    if (e.field) details.push({ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: e.field, description: e.message }] });
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=UTF-8' };
    if (e.retryAfter) headers['retry-after'] = e.retryAfter;
    res.writeHead(e.status, headers);
    res.end(JSON.stringify({
      error: { code: e.status, message: e.message ?? 'error', status: e.rpcStatus ?? rpcStatusFor(e.status), details },
    }));
  }
}

function rpcStatusFor(status: number): string {
  return ({ 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' } as Record<number, string>)[status] ?? 'UNKNOWN';
}

/**
 * AndroidMessagePriority (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages#androidmessagepriority):
 * its two names, and their lower-case spellings, which the field's own description allows ("Can
 * take "normal" and "high" values") and firebase-admin sends. Anything else (`PRIORITY_HIGH` of
 * the Android SDK, `High`, `urgent`, a number) is refused as FCM refuses it, 400 INVALID_ARGUMENT.
 */
const ANDROID_PRIORITIES = new Set(['NORMAL', 'HIGH', 'normal', 'high']);

/** The checks FCM makes that a sender most easily gets wrong. */
function schemaProblem(body: { message?: Record<string, unknown>; validate_only?: unknown }): { message: string; field?: string } | undefined {
  const m = body.message;
  if (typeof m !== 'object' || m === null) return { message: 'message is required', field: 'message' };
  for (const key of Object.keys(m)) if (!MESSAGE_FIELDS.has(key)) return { message: `Invalid JSON payload received. Unknown name "${key}" at 'message'`, field: `message.${key}` };
  const targets = ['token', 'topic', 'condition'].filter((k) => m[k] !== undefined);
  if (targets.length !== 1) return { message: 'exactly one of token, topic, condition is required', field: 'message' };
  if (typeof m.token !== 'string' || m.token === '' || m.token.startsWith('invalid')) {
    return { message: 'The registration token is not a valid FCM registration token', field: 'message.token' };
  }
  if (m.data !== undefined) {
    if (typeof m.data !== 'object' || m.data === null) return { message: 'data must be a map', field: 'message.data' };
    for (const [k, v] of Object.entries(m.data)) {
      if (typeof v !== 'string') return { message: `Invalid value at 'message.data[${k}].value' (TYPE_STRING)`, field: `message.data[${k}].value` };
    }
  }
  const n = m.notification as Record<string, unknown> | undefined;
  if (n) for (const k of Object.keys(n)) if (!['title', 'body', 'image'].includes(k) || typeof n[k] !== 'string') return { message: `bad notification.${k}`, field: `message.notification.${k}` };
  const a = m.android as Record<string, unknown> | undefined;
  if (a) {
    if (a.ttl !== undefined && (typeof a.ttl !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(a.ttl))) return { message: 'Invalid value at message.android.ttl (Duration)', field: 'message.android.ttl' };
    if (a.priority !== undefined && !(typeof a.priority === 'string' && ANDROID_PRIORITIES.has(a.priority))) {
      return { message: `Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), ${JSON.stringify(a.priority)}`, field: 'message.android.priority' };
    }
    if (a.collapse_key !== undefined && typeof a.collapse_key !== 'string') return { message: 'bad collapse_key', field: 'message.android.collapse_key' };
    const an = a.notification as Record<string, unknown> | undefined;
    if (an?.notification_count !== undefined && !Number.isInteger(an.notification_count)) return { message: 'bad notification_count', field: 'message.android.notification.notification_count' };
  }
  if (body.validate_only !== undefined && typeof body.validate_only !== 'boolean') return { message: 'validate_only must be a bool', field: 'validate_only' };
  return undefined;
}
