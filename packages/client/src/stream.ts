import { createParser } from 'eventsource-parser';
import { HeraldApiError } from './errors.ts';
import { sleep } from './retry.ts';

export interface StreamOptions<T> {
  /** Called for each `inbox` event, in order, with the parsed item. */
  onItem: (item: T) => void;
  /** Called each time the stream is (re)connected. */
  onOpen?: () => void;
  /**
   * Called on every failure. `fatal` is true when the stream has stopped for good: herald refused
   * the credentials (401/403) or the request (another 4xx); anything else is retried.
   */
  onError?: (error: unknown, fatal: boolean) => void;
  /** Resume after this item id (as a stored `lastEventId`): herald first sends what came since. */
  lastEventId?: string;
  /** Reconnect delay until the server sets one with `retry:` (default 3 s). */
  reconnectDelayMs?: number;
  /** Reconnect when nothing (not even a keep-alive) arrived for this long (default 45 s). */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface EventStream {
  /** The id of the last item received: pass it as `lastEventId` to resume later. */
  readonly lastEventId: string | undefined;
  /** Stop the stream (no reconnect). */
  close(): void;
  /** Settles when the stream has stopped, by close() or a fatal error. */
  readonly done: Promise<void>;
}

export interface StreamDeps {
  url: string;
  fetch: typeof fetch;
  authorization: () => Promise<string | undefined>;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * Server-Sent Events over fetch, not the browser's EventSource: EventSource cannot send an
 * Authorization header, and by the standard it gives up for good on any non-200 answer (a 503
 * while a replica drains). This keeps EventSource's behaviour otherwise: reconnect after the
 * server's `retry:`, send `Last-Event-ID` so herald replays what was missed, and back off while
 * reconnects fail. Parsing is eventsource-parser's (the spec's line rules, split chunks).
 */
export function openEventStream<T>(deps: StreamDeps, options: StreamOptions<T>): EventStream {
  const stopper = new AbortController();
  const stop = () => stopper.abort(new DOMException('The stream was closed.', 'AbortError'));
  options.signal?.addEventListener('abort', stop, { once: true });
  let lastEventId = options.lastEventId;
  let retryMs = options.reconnectDelayMs ?? 3_000;
  const idleMs = options.idleTimeoutMs ?? 45_000;

  async function connectOnce(): Promise<void> {
    const attempt = new AbortController();
    const abortAttempt = () => attempt.abort(stopper.signal.reason);
    stopper.signal.addEventListener('abort', abortAttempt, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => attempt.abort(new Error(`no data for ${idleMs} ms: reconnecting`)), idleMs);
    };
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      const authorization = await deps.authorization();
      if (authorization) headers.authorization = authorization;
      if (lastEventId) headers['last-event-id'] = lastEventId;
      touch();
      const response = await deps.fetch(deps.url, { headers, signal: attempt.signal, cache: 'no-store' });
      if (!response.ok) throw await HeraldApiError.fromResponse(response);
      if (!response.body || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        throw new HeraldApiError(response.status, { code: 'NOT_AN_EVENT_STREAM', message: `expected text/event-stream, got ${response.headers.get('content-type') ?? 'no content type'}` });
      }
      options.onOpen?.();
      const parser = createParser({
        onEvent(event) {
          if (event.id) lastEventId = event.id;
          if (event.event !== 'inbox') return;
          // A bad item or a throwing handler must not tear the connection down.
          try {
            options.onItem(JSON.parse(event.data) as T);
          } catch (error) {
            options.onError?.(error, false);
          }
        },
        onRetry(ms) {
          retryMs = ms;
        },
      });
      const decoder = new TextDecoder();
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        touch();
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } finally {
      clearTimeout(idle);
      stopper.signal.removeEventListener('abort', abortAttempt);
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopper.signal.aborted) {
      let asked: number | undefined;
      try {
        await connectOnce();
        failures = 0; // the server ended a working stream (shutdown): reconnect after `retry`
      } catch (error) {
        if (stopper.signal.aborted) break;
        const fatal = error instanceof HeraldApiError && error.status >= 400 && error.status < 500 && error.status !== 429 && error.status !== 408;
        options.onError?.(error, fatal);
        if (fatal) break;
        failures++;
        if (error instanceof HeraldApiError && error.retryAfterSeconds !== undefined) asked = error.retryAfterSeconds * 1000;
      }
      const backoff = Math.min(MAX_BACKOFF_MS, retryMs * 2 ** Math.max(0, failures - 1));
      await sleep(Math.max(backoff, Math.min(asked ?? 0, 5 * MAX_BACKOFF_MS)), stopper.signal).catch(() => undefined);
    }
  }

  const done = run().finally(() => options.signal?.removeEventListener('abort', stop));
  return {
    get lastEventId() {
      return lastEventId;
    },
    close: stop,
    done,
  };
}
