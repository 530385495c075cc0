import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createDecipheriv, createECDH, createHmac, randomBytes, type ECDH } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { decodeJwt, importJWK, jwtVerify } from 'jose';
import type { WebPushSubscription } from '../../src/channels/types.ts';
import { makeTestCertificate, type TestCertificate } from './fcm-server.ts';

/**
 * A fake Web Push service (RFC 8030) over HTTPS. It plays the browser's side too: `subscribe()`
 * makes a subscription with a real P-256 key pair and auth secret, and every push is DECRYPTED
 * with that private key (RFC 8291 aes128gcm), so a test sees exactly what a service worker
 * would. The VAPID JWT (RFC 8292) is verified: ES256 signature with the `k` key, `aud` equal to
 * this origin, `exp` in the future and at most 24 h ahead, a `sub` contact.
 */
export interface ReceivedPush {
  readonly subscriptionId: string;
  readonly payload: string;
  readonly ttl: number;
  readonly urgency: string | undefined;
  readonly topic: string | undefined;
  readonly vapidKey: string;
  readonly claims: Record<string, unknown>;
}

interface FakeSubscription {
  readonly ecdh: ECDH;
  readonly auth: Buffer;
  /** applicationServerKey the browser subscribed with: pushes signed with another key → 403. */
  readonly serverKey: string | undefined;
  gone: boolean;
  readonly script: Array<ScriptedAnswer | 'drop'>;
}

/** A scripted answer: status, optional Retry-After and body (default "scripted"). */
export interface ScriptedAnswer {
  readonly status: number;
  readonly retryAfter?: string;
  readonly body?: string;
}

function hmac(key: Buffer, ...data: Buffer[]): Buffer {
  const h = createHmac('sha256', key);
  for (const d of data) h.update(d);
  return h.digest();
}

export class FakeWebPushServer {
  readonly certificate: TestCertificate;
  readonly received: ReceivedPush[] = [];
  readonly rejected: Array<{ status: number; reason: string }> = [];
  #server: https.Server;
  #subscriptions = new Map<string, FakeSubscription>();
  #sockets = new Set<Socket>();
  #origin = '';
  connections = 0;

  constructor() {
    this.certificate = makeTestCertificate();
    this.#server = https.createServer({ key: this.certificate.key, cert: this.certificate.cert, keepAliveTimeout: 60_000 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#reject(res, 500, String(err)));
    });
    this.#server.on('secureConnection', (socket: Socket) => {
      this.connections++;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  get origin(): string {
    return this.#origin;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#origin = `https://localhost:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  /** A browser subscribing (optionally with an applicationServerKey the pushes must be signed with). */
  subscribe(serverKey?: string): WebPushSubscription & { id: string } {
    const id = randomBytes(9).toString('base64url');
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    this.#subscriptions.set(id, { ecdh, auth, serverKey, gone: false, script: [] });
    return { id, endpoint: `${this.#origin}/push/${id}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
  }

  /** The user revoked the permission: the endpoint answers 410 Gone from now on. */
  unsubscribe(id: string): void {
    this.#subscriptions.get(id)!.gone = true;
  }

  /** Answer the next pushes to this subscription with these statuses ('drop': close the connection unanswered). */
  failNext(id: string, ...answers: Array<ScriptedAnswer | 'drop'>): void {
    this.#subscriptions.get(id)!.script.push(...answers);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.certificate.cleanup();
  }

  #reject(res: ServerResponse, status: number, reason: string, headers: Record<string, string> = {}): void {
    this.rejected.push({ status, reason });
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { 'content-type': 'text/plain', ...headers });
    res.end(reason);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const id = /^\/push\/([\w-]+)$/.exec(req.url ?? '')?.[1];
    const sub = id ? this.#subscriptions.get(id) : undefined;
    if (req.method !== 'POST' || !id || !sub) return this.#reject(res, 404, 'no such subscription');
    if (sub.gone) return this.#reject(res, 410, 'push subscription has unsubscribed or expired');

    // RFC 8030 §5.2: TTL is required.
    const ttl = req.headers.ttl;
    if (typeof ttl !== 'string' || !/^\d+$/.test(ttl)) return this.#reject(res, 400, 'TTL header missing or not a number');
    const urgency = req.headers.urgency as string | undefined;
    if (urgency !== undefined && !['very-low', 'low', 'normal', 'high'].includes(urgency)) return this.#reject(res, 400, 'bad Urgency');
    const topic = req.headers.topic as string | undefined;
    if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(topic)) return this.#reject(res, 400, 'bad Topic');
    if (req.headers['content-encoding'] !== 'aes128gcm') return this.#reject(res, 400, 'Content-Encoding must be aes128gcm');
    if (body.length > 4096 + 86) return this.#reject(res, 413, 'payload too large');

    // RFC 8292 §3: Authorization: vapid t=<jwt>, k=<key>
    const auth = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(req.headers.authorization ?? '');
    if (!auth) return this.#reject(res, 401, 'missing VAPID authorization');
    const [, jwt, k] = auth as unknown as [string, string, string];
    let claims: Record<string, unknown>;
    try {
      const pub = Buffer.from(k, 'base64url');
      const key = await importJWK({ kty: 'EC', crv: 'P-256', x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') }, 'ES256');
      ({ payload: claims } = await jwtVerify(jwt, key, { audience: this.#origin, algorithms: ['ES256'] }));
      const exp = Number(claims.exp);
      if (!(exp > Date.now() / 1000) || exp > Date.now() / 1000 + 24 * 3600) throw new Error('exp must be within 24 hours');
      if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) throw new Error('sub must be a mailto: or https: URI');
    } catch (err) {
      return this.#reject(res, 401, `VAPID JWT rejected: ${(err as Error).message} (${JSON.stringify(decodeJwtSafe(jwt))})`);
    }
    if (sub.serverKey && sub.serverKey !== k) return this.#reject(res, 403, 'VAPID key does not match the subscription');

    const scripted = sub.script.shift();
    if (scripted === 'drop') return void req.socket.destroy();
    if (scripted) return this.#reject(res, scripted.status, scripted.body ?? 'scripted', scripted.retryAfter ? { 'retry-after': scripted.retryAfter } : {});

    let payload: string;
    try {
      payload = this.#decrypt(sub, body);
    } catch (err) {
      return this.#reject(res, 400, `cannot decrypt: ${(err as Error).message}`);
    }
    this.received.push({ subscriptionId: id, payload, ttl: Number(ttl), urgency, topic, vapidKey: k, claims });
    res.writeHead(201, { location: `${this.#origin}/message/${randomBytes(6).toString('hex')}` });
    res.end();
  }

  /** RFC 8291 §3.4 from the user agent's side. */
  #decrypt(sub: FakeSubscription, body: Buffer): string {
    const salt = body.subarray(0, 16);
    const rs = body.readUInt32BE(16);
    const idlen = body.readUInt8(20);
    const serverPublic = body.subarray(21, 21 + idlen);
    const record = body.subarray(21 + idlen);
    if (record.length > rs) throw new Error('more than one record');
    const uaPublic = sub.ecdh.getPublicKey();
    const shared = sub.ecdh.computeSecret(serverPublic);
    const ikm = hmac(hmac(sub.auth, shared), Buffer.from('WebPush: info\0'), uaPublic, serverPublic, Buffer.from([1]));
    const prk = hmac(salt, ikm);
    const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
    const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(record.subarray(record.length - 16));
    const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--; // padding
    if (plain[end] !== 2) throw new Error('last record lacks the 0x02 delimiter');
    return plain.subarray(0, end).toString('utf8');
  }
}

function decodeJwtSafe(jwt: string): unknown {
  try {
    return decodeJwt(jwt);
  } catch {
    return 'undecodable';
  }
}
