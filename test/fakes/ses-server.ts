/**
 * A fake AWS SES v2 endpoint speaking the real REST/JSON protocol of SendEmail
 * (`POST /v2/email/outbound-emails`, https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html):
 * it checks the SigV4 Authorization header (form, credential scope, and the signature itself
 * for the access keys it knows), validates the request body, and answers 200 {MessageId} or a
 * scripted error in the shape the SDK parses (status, `x-amzn-ErrorType`, `{"message"}`).
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedReply {
  readonly status: number;
  /** `x-amzn-ErrorType`, e.g. TooManyRequestsException, MessageRejected. */
  readonly type: string;
  readonly message?: string;
  readonly retryAfterSeconds?: number;
}

/** A request the fake accepted (signature valid, body well-formed). */
export interface SesRequest {
  readonly accessKeyId: string;
  readonly region: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: SendEmailBody;
  readonly messageId: string;
}

export interface SendEmailBody {
  readonly FromEmailAddress?: string;
  readonly Destination?: { readonly ToAddresses?: string[] };
  readonly Content?: {
    readonly Simple?: {
      readonly Subject?: { readonly Data?: string };
      readonly Body?: { readonly Text?: { readonly Data?: string }; readonly Html?: { readonly Data?: string } };
      readonly Headers?: Array<{ readonly Name: string; readonly Value: string }>;
    };
  };
}

export interface FakeSes {
  readonly url: string;
  readonly requests: SesRequest[];
  /** Replies used (in order) for the next requests instead of a success; 'hangup' drops the connection. */
  script(...replies: Array<ScriptedReply | 'hangup'>): void;
  close(): Promise<void>;
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

// AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/ses/aws4_request, SignedHeaders=a;b, Signature=hex
const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** Recomputes the SigV4 signature (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html). */
function expectedSignature(req: IncomingMessage, body: Buffer, secret: string, date: string, region: string, service: string, signed: string[]): string {
  const url = new URL(req.url ?? '/', 'http://x');
  const query = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).sort().join('&');
  const canonicalHeaders = signed.map((h) => {
    const raw = req.headers[h];
    const value = Array.isArray(raw) ? raw.join(',') : raw ?? '';
    return `${h}:${value.trim().replace(/\s+/g, ' ')}\n`;
  }).join('');
  const payloadHash = (req.headers['x-amz-content-sha256'] as string | undefined) ?? sha256(body);
  const canonical = [req.method, url.pathname, query, canonicalHeaders, signed.join(';'), payloadHash].join('\n');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/${service}/aws4_request`, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID(), ...headers });
  res.end(JSON.stringify(body));
}

function error(res: ServerResponse, r: ScriptedReply): void {
  const headers: Record<string, string> = { 'x-amzn-errortype': r.type };
  if (r.retryAfterSeconds !== undefined) headers['retry-after'] = String(r.retryAfterSeconds);
  reply(res, r.status, { message: r.message ?? r.type }, headers);
}

/** Starts the fake on 127.0.0.1; `keys` maps access key ids to secrets whose signatures it checks. */
export async function startFakeSes(keys: Readonly<Record<string, string>>): Promise<FakeSes> {
  const requests: SesRequest[] = [];
  const scripted: Array<ScriptedReply | 'hangup'> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method !== 'POST' || req.url !== '/v2/email/outbound-emails') {
        return error(res, { status: 404, type: 'NotFoundException', message: `no route ${req.method} ${req.url}` });
      }
      const auth = AUTH.exec(String(req.headers.authorization ?? ''));
      if (!auth || !req.headers['x-amz-date']) {
        return error(res, { status: 403, type: 'IncompleteSignatureException', message: 'Authorization header missing or malformed' });
      }
      const [, accessKeyId, date, region, service, signedHeaders, signature] = auth as unknown as [string, string, string, string, string, string, string];
      const signed = signedHeaders.split(';');
      if (service !== 'ses' || !signed.includes('host') || !signed.includes('x-amz-date') || !String(req.headers['x-amz-date']).startsWith(date)) {
        return error(res, { status: 403, type: 'IncompleteSignatureException', message: 'credential scope or signed headers are wrong' });
      }
      const secret = keys[accessKeyId];
      if (secret === undefined) {
        return error(res, { status: 403, type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' });
      }
      if (expectedSignature(req, body, secret, date, region, service, signed) !== signature) {
        return error(res, { status: 403, type: 'InvalidSignatureException', message: 'The request signature we calculated does not match the signature you provided.' });
      }
      const next = scripted.shift();
      if (next === 'hangup') return req.socket.destroy();
      if (next) return error(res, next);
      let parsed: SendEmailBody;
      try {
        parsed = JSON.parse(body.toString('utf8')) as SendEmailBody;
      } catch {
        return error(res, { status: 400, type: 'BadRequestException', message: 'body is not JSON' });
      }
      const simple = parsed.Content?.Simple;
      if (!parsed.FromEmailAddress || !parsed.Destination?.ToAddresses?.length || !simple?.Subject?.Data || !(simple.Body?.Text || simple.Body?.Html)) {
        return error(res, { status: 400, type: 'BadRequestException', message: 'FromEmailAddress, Destination.ToAddresses, Subject and a Text or Html body are required' });
      }
      const messageId = `0100${randomUUID().replace(/-/g, '')}-000000`;
      requests.push({ accessKeyId, region, headers: req.headers, body: parsed, messageId });
      reply(res, 200, { MessageId: messageId });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script: (...replies) => { scripted.push(...replies); },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
