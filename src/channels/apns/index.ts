import type { Channel, ChannelDeps, DeliveryJob, Verdict } from '../types.ts';
import type { AppCredentials } from '../../apps/types.ts';
import type { ApnsResult } from './connection.ts';
import { buildRequest } from './payload.ts';
import { parseErrorBody, verdictFor } from './verdict.ts';
import { Targets, type Target } from './targets.ts';

export { buildPayload, buildRequest, apnsIdFor, collapseIdHeader, MAX_PAYLOAD_BYTES, MAX_VOIP_PAYLOAD_BYTES } from './payload.ts';
export { PRODUCTION_ORIGIN, SANDBOX_ORIGIN, apnsOrigin } from './targets.ts';

/**
 * The APNs channel: provider `apns`, for devices with platform `ios`. One HTTP/2 pool per app,
 * environment and credentials (see pool.ts); typed verdicts from APNs answers (verdict.ts).
 */

export interface ApnsChannelOptions {
  /** Trust this CA too (in-process tests; processes use NODE_EXTRA_CA_CERTS). */
  readonly ca?: string | Buffer | undefined;
  readonly maxConnections?: number | undefined;
  readonly maxStreams?: number | undefined;
  readonly requestTimeoutMs?: number | undefined;
  readonly pingIntervalMs?: number | undefined;
  /** Clock for provider-token ages (tests). */
  readonly now?: (() => number) | undefined;
}

/** Answers that make us try the same request again at once, on a fresh connection or token. */
const MAX_IMMEDIATE_TRIES = 3;

export class ApnsChannel implements Channel {
  readonly provider = 'apns' as const;
  readonly maxAttempts = 8;
  readonly #deps: ChannelDeps;
  readonly #targets: Targets;
  /** The last answer of the credential store, by the promise that brought it (see #app). */
  #known: { readonly promise: Promise<AppCredentials | undefined>; readonly app: AppCredentials | undefined } | undefined;
  #closed = false;

  constructor(deps: ChannelDeps, options: ApnsChannelOptions = {}) {
    this.#deps = deps;
    this.#targets = new Targets({
      defaultUrl: deps.config.apns.url,
      ca: options.ca,
      now: options.now,
      maxConnections: options.maxConnections ?? 4,
      maxStreams: options.maxStreams ?? 1000,
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      pingIntervalMs: options.pingIntervalMs ?? 60_000,
    });
  }

  async send(job: DeliveryJob): Promise<Verdict> {
    try {
      if (this.#closed) return { status: 'retry', error: 'the APNs channel is shutting down' };
      if (job.device?.platform !== 'ios') return { status: 'failed', error: 'APNs sends only to iOS devices' };
      const pending = this.#deps.credentials.get(job.appId);
      const app = this.#known?.promise === pending ? this.#known.app : await this.#remember(pending);
      if (!app) return { status: 'failed', error: `unknown app ${job.appId}` };
      if (!app.apns) return this.#problem(job.appId, `app ${job.appId} has no APNs credentials: set HERALD_APNS_* (default app) or apns in PUT /v1/apps/${job.appId}`);
      let target = this.#targets.resolve(job.appId, app.apns, job.device.environment);
      if (!('pool' in target)) {
        const resolved = await target;
        if (!resolved.ok) return this.#problem(job.appId, resolved.problem);
        target = resolved.target;
      }
      const built = buildRequest(job, target.bundleId);
      if (!built.ok) return { status: 'failed', error: built.error };
      const { headers, body } = built.request;
      // The common case inline (a valid token, answered 200); anything else goes through #deliver.
      const signer = target.signer;
      const authorization = signer ? signer.currentHeader() : undefined;
      if (signer && authorization === undefined) return await this.#deliver(target, headers, body, job);
      if (authorization !== undefined) headers.authorization = authorization;
      const result = await target.pool.send(headers, body);
      if (result.kind === 'response' && result.status === 200) return { status: 'sent', providerId: result.apnsId };
      return await this.#deliver(target, headers, body, job, result);
    } catch (err) {
      return { status: 'retry', error: `APNs send failed: ${(err as Error).message}` };
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#targets.close();
  }

  /** `first`: the answer to a first try already made with the current `headers`. */
  async #deliver(target: Target, headers: Record<string, string>, body: string, job: DeliveryJob, first?: ApnsResult): Promise<Verdict> {
    let verdict: Verdict = { status: 'retry', error: 'not sent' };
    for (let tries = 1; tries <= MAX_IMMEDIATE_TRIES; tries++) {
      const signer = target.signer;
      let authorization = headers.authorization;
      let result: ApnsResult;
      if (tries === 1 && first) {
        result = first;
      } else {
        authorization = signer ? (signer.currentHeader() ?? (await signer.header())) : undefined;
        if (authorization) headers.authorization = authorization;
        result = await target.pool.send(headers, body);
      }
      if (result.kind === 'no-response') return { status: 'retry', error: `APNs: ${result.error}` };
      const reply = parseErrorBody(result.body);
      if (result.status === 503) {
        // Apple: the server is shutting down; reconnect (to another server) and try again.
        target.pool.retire(result.connection);
        verdict = { status: 'retry', error: `APNs 503 ${reply.reason ?? 'ServiceUnavailable'}` };
        continue;
      }
      if (result.status === 403 && reply.reason === 'ExpiredProviderToken' && signer && authorization) {
        if (await signer.expired(authorization.slice('bearer '.length))) continue;
        return { status: 'retry', error: 'APNs 403 ExpiredProviderToken', appProblem: 'APNs says the provider token expired although it is younger than 20 minutes: check the server clock' };
      }
      if (result.status === 429 && reply.reason === 'TooManyProviderTokenUpdates') {
        // Keep the current token for a while and start over on a new connection.
        target.signer?.holdOff();
        target.pool.retire(result.connection);
        return { status: 'retry', error: 'APNs 429 TooManyProviderTokenUpdates' };
      }
      return verdictFor(result.status, result.apnsId, reply, job, target.environment);
    }
    return verdict;
  }

  /**
   * The store hands out the same settled promise while its entry is cached
   * (src/apps/credentials.ts): its value is kept here by that promise, so a send does not wait a
   * turn of the microtask queue for an answer it already has.
   */
  async #remember(pending: Promise<AppCredentials | undefined>): Promise<AppCredentials | undefined> {
    const app = await pending;
    this.#known = { promise: pending, app };
    return app;
  }

  /** A problem of the app's configuration: the engine records it on the app (src/dispatch/app-problems.ts). */
  #problem(appId: string, problem: string): Verdict {
    return { status: 'failed', error: problem, appProblem: problem };
  }
}

export function createApnsChannel(deps: ChannelDeps, options?: ApnsChannelOptions): Channel {
  return new ApnsChannel(deps, options);
}
