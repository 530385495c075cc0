import type { SESv2Client, SESv2ClientConfig } from '@aws-sdk/client-sesv2';

// The AWS SDK is loaded on the first SES send: most deployments never use it, and importing it
// adds a few hundred milliseconds to every start.
type SesSdk = typeof import('@aws-sdk/client-sesv2');
let sdk: Promise<SesSdk> | undefined;
const loadSdk = (): Promise<SesSdk> => (sdk ??= import('@aws-sdk/client-sesv2'));
import type { Verdict } from '../types.ts';
import type { OutgoingEmail } from './message.ts';
import { parseRetryAfter } from '../retry-after.ts';

/** Overrides for tests and unusual deployments; production uses the standard AWS chain. */
export interface SesOptions {
  /** Endpoint override; without it the SDK honours AWS_ENDPOINT_URL(_SESV2) itself. */
  readonly endpoint?: string | undefined;
  readonly credentials?: SESv2ClientConfig['credentials'];
}

interface AwsError {
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $response?: { readonly headers?: Readonly<Record<string, string | undefined>> };
}

// SES refuses the caller, not the message: the app's AWS keys or permissions are wrong.
const AUTH_ERRORS = new Set([
  'UnrecognizedClientException', 'InvalidSignatureException', 'SignatureDoesNotMatch', 'IncompleteSignatureException',
  'AccessDeniedException', 'InvalidClientTokenId', 'ExpiredTokenException', 'MissingAuthenticationTokenException',
  'CredentialsProviderError',
]);
// The account or sender needs a human (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#API_SendEmail_Errors).
const ACCOUNT_ERRORS = new Set(['AccountSuspendedException', 'SendingPausedException', 'MailFromDomainNotVerifiedException', 'NotFoundException']);
// Throttling (per-second rate) and the daily quota: the same message goes through later.
const THROTTLE_ERRORS = new Set(['TooManyRequestsException', 'LimitExceededException', 'ThrottlingException']);

function retryAfterMs(err: AwsError): number | undefined {
  const value = err.$response?.headers?.['retry-after'];
  return value === undefined ? undefined : parseRetryAfter(String(value));
}

/**
 * SES v2 SendEmail outcome → verdict, from the error's name (the `x-amzn-ErrorType` of the
 * REST/JSON protocol) and HTTP status.
 */
export function sesVerdict(error: unknown, region: string): Verdict {
  const err = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as AwsError;
  const name = err.name ?? 'Error';
  const status = err.$metadata?.httpStatusCode;
  const detail = `${name}: ${(err.message ?? '').slice(0, 500)}`;
  if (AUTH_ERRORS.has(name) || status === 401 || status === 403) {
    const appProblem = `SES (${region}) refused the AWS credentials: ${detail}`;
    return { status: 'failed', error: appProblem, appProblem };
  }
  if (ACCOUNT_ERRORS.has(name)) {
    const appProblem = `SES (${region}) cannot send for this app: ${detail}`;
    return { status: 'failed', error: appProblem, appProblem };
  }
  if (THROTTLE_ERRORS.has(name) || status === 429) {
    return { status: 'retry', error: `SES throttled: ${detail}`, retryAfterMs: retryAfterMs(err) };
  }
  if (name === 'MessageRejected' || name === 'BadRequestException') return { status: 'failed', error: `SES: ${detail}` };
  if (status !== undefined && status >= 500) return { status: 'retry', error: `SES ${status}: ${detail}`, retryAfterMs: retryAfterMs(err) };
  if (status !== undefined && status >= 400) return { status: 'failed', error: `SES ${status}: ${detail}` };
  // No HTTP status: the request never got an answer (connection refused, timeout).
  return { status: 'retry', error: `SES request failed: ${detail}` };
}

/** One SES v2 client per region (and endpoint). */
export class SesSender {
  readonly region: string;
  readonly #options: SesOptions;
  #client: Promise<{ client: SESv2Client; sdk: SesSdk }> | undefined;

  constructor(region: string, options: SesOptions = {}) {
    this.region = region;
    this.#options = options;
  }

  #connect(): Promise<{ client: SESv2Client; sdk: SesSdk }> {
    const region = this.region;
    const options = this.#options;
    return (this.#client ??= loadSdk().then((m) => ({ sdk: m, client: new m.SESv2Client({
      region,
      // One attempt: the delivery engine owns retries (backoff, dead letter, the attempt count
      // users see); SDK retries underneath would hold a worker slot and hide throttling.
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    }) })));
  }

  async send(mail: OutgoingEmail): Promise<Verdict> {
    try {
      const body: { Text?: { Data: string; Charset: string }; Html?: { Data: string; Charset: string } } = {};
      if (mail.text !== undefined) body.Text = { Data: mail.text, Charset: 'UTF-8' };
      if (mail.html !== undefined) body.Html = { Data: mail.html, Charset: 'UTF-8' };
      const { client, sdk: m } = await this.#connect();
      const result = await client.send(new m.SendEmailCommand({
        FromEmailAddress: mail.from,
        Destination: { ToAddresses: [mail.to] },
        Content: {
          Simple: {
            Subject: { Data: mail.subject, Charset: 'UTF-8' },
            Body: body,
            // SES assigns its own Message-ID; ours travels as X-Herald-Delivery-Id instead.
            Headers: Object.entries(mail.headers).map(([Name, Value]) => ({ Name, Value })),
          },
        },
      }));
      return { status: 'sent', providerId: result.MessageId };
    } catch (error) {
      return sesVerdict(error, this.region);
    }
  }

  close(): void {
    void this.#client?.then(({ client }) => client.destroy());
  }
}
