import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { paths } from './schema.ts';
import { HeraldApiError } from './errors.ts';
import { withRetries, type RetryOptions } from './retry.ts';
import { openEventStream, type EventStream, type StreamOptions } from './stream.ts';

export type { paths, components, operations } from './schema.ts';
export { HeraldApiError, type HeraldErrorBody, retryAfterMs } from './errors.ts';
export type { RetryOptions } from './retry.ts';
export type { EventStream, StreamOptions } from './stream.ts';

/** An inbox item as herald returns it (`GET /v1/me/inbox`, the stream's `inbox` events). */
export type InboxItem = paths['/v1/me/inbox']['get']['responses'][200]['content']['application/json']['items'][number];
/** A page of the inbox, with the `total` and `unread` counts. */
export type InboxPage = paths['/v1/me/inbox']['get']['responses'][200]['content']['application/json'];

/** A credential, or a function giving the current one (called before every request: refresh JWTs there). */
export type Credential = string | (() => string | Promise<string>);

export interface HeraldClientOptions {
  /** herald's origin, e.g. `https://herald.example.com` (paths start at `/v1/...`). */
  baseUrl: string;
  /** An admin API key (`hk_...`): server side only, never in a browser. */
  apiKey?: Credential;
  /** An end user's JWT: the `/v1/me/...` routes. */
  token?: Credential;
  /** Retries of 429 and 503; `false` for none. */
  retry?: RetryOptions | false;
  /** Put a fresh `Idempotency-Key` on every POST that has none (default true). */
  idempotencyKeys?: boolean;
  /** Another fetch (tests, instrumentation); defaults to the global one. */
  fetch?: typeof fetch;
}

export interface InboxStreamOptions extends StreamOptions<InboxItem> {
  /** With an API key: whose inbox (`/v1/users/{userId}/inbox/stream`); omitted: `/v1/me/inbox/stream`. */
  userId?: string;
}

export interface HeraldClient extends Client<paths> {
  /** Follow an inbox live; see StreamOptions. */
  inboxStream(options: InboxStreamOptions): EventStream;
}

/**
 * The typed client: openapi-fetch's `GET/PUT/POST/PATCH/DELETE(path, {params, body})` over
 * herald's generated types, plus authentication, idempotency keys, retries and the inbox
 * stream. Calls resolve to `{data, error, response}` as openapi-fetch's do; `unwrap()` turns
 * that into the data or a thrown HeraldApiError.
 */
export function createHeraldClient(options: HeraldClientOptions): HeraldClient {
  if (options.apiKey !== undefined && options.token !== undefined) throw new TypeError('give apiKey or token, not both');
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const baseFetch = options.fetch ?? ((input: Request | string | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const send = (request: Request) => baseFetch(request);
  const credential = options.apiKey ?? options.token;
  const authorization = async (): Promise<string | undefined> => {
    if (credential === undefined) return undefined;
    return `Bearer ${typeof credential === 'function' ? await credential() : credential}`;
  };

  const clientOptions: ClientOptions = { baseUrl, fetch: options.retry === false ? send : withRetries(send, options.retry) };
  const client = createClient<paths>(clientOptions);
  const headers: Middleware = {
    async onRequest({ request }) {
      const value = await authorization();
      if (value && !request.headers.has('authorization')) request.headers.set('authorization', value);
      if (options.idempotencyKeys !== false && request.method === 'POST' && !request.headers.has('idempotency-key')) {
        request.headers.set('idempotency-key', newKey());
      }
      return request;
    },
  };
  client.use(headers);

  return Object.assign(client, {
    inboxStream(streamOptions: InboxStreamOptions): EventStream {
      const path = streamOptions.userId === undefined ? '/v1/me/inbox/stream' : `/v1/users/${encodeURIComponent(streamOptions.userId)}/inbox/stream`;
      return openEventStream<InboxItem>({ url: `${baseUrl}${path}`, fetch: baseFetch, authorization }, streamOptions);
    },
  });
}

/** The data of a call, or its HeraldApiError thrown: `const user = await unwrap(herald.GET(...))`. */
export async function unwrap<R extends { data?: unknown; error?: unknown; response: Response }>(call: Promise<R>): Promise<Exclude<R['data'], undefined>> {
  const result = await call;
  if (result.response.ok) return result.data as Exclude<R['data'], undefined>;
  throw HeraldApiError.from(result.response, result.error);
}

/**
 * A random key. crypto.randomUUID exists only in secure contexts (HTTPS, localhost); a page
 * served over plain HTTP elsewhere still has getRandomValues.
 */
function newKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
