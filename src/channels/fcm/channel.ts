import { Counter, type Registry } from 'prom-client';
import type { AppCredentialStore, FcmCredentials } from '../../apps/types.ts';
import type { Logger } from '../../log/index.ts';
import type { Channel, DeliveryJob, Verdict } from '../types.ts';
import { buildFcmMessage } from './message.ts';
import { FcmSender, type FcmSenderOptions } from './sender.ts';

export interface FcmChannelDeps {
  readonly credentials: AppCredentialStore;
  readonly log: Logger;
  readonly metrics?: Registry | undefined;
}

function sendCounter(registry: Registry | undefined): Counter<'outcome'> | undefined {
  if (!registry) return undefined;
  const name = 'herald_fcm_sends_total';
  const existing = registry.getSingleMetric(name) as Counter<'outcome'> | undefined;
  return existing ?? new Counter({ name, help: 'FCM sends by verdict', labelNames: ['outcome'], registers: [registry] });
}

/**
 * The FCM channel: Android devices, and web devices registered with an FCM token rather than a
 * Web Push subscription. One HTTP v1 request per delivery over the shared HTTP/2 pool.
 */
export class FcmChannel implements Channel {
  readonly provider = 'fcm' as const;
  /** FCM asks for exponential backoff on 429/5xx; 8 tries spans minutes to hours with the engine's backoff. */
  readonly maxAttempts = 8;
  readonly #deps: FcmChannelDeps;
  readonly #sender: FcmSender;
  readonly #counter: Counter<'outcome'> | undefined;

  constructor(deps: FcmChannelDeps, options: FcmSenderOptions = {}) {
    this.#deps = deps;
    this.#sender = new FcmSender(options);
    this.#counter = sendCounter(deps.metrics);
  }

  get sender(): FcmSender {
    return this.#sender;
  }

  async send(job: DeliveryJob): Promise<Verdict> {
    let verdict: Verdict;
    try {
      verdict = await this.#send(job);
    } catch (err) {
      verdict = { status: 'retry', error: `FCM: ${err instanceof Error ? err.message : String(err)}` };
    }
    this.#counter?.inc({ outcome: verdict.status });
    return verdict;
  }

  /** Dry-run a registration token (`validate_only`): `sent` when FCM accepts it, `device-invalid` when dead. */
  async validateToken(appId: string, token: string): Promise<Verdict> {
    const credentials = await this.#credentials(appId);
    if ('status' in credentials) return credentials;
    return this.#sender.send(credentials, { validate_only: true, message: { token } });
  }

  async close(): Promise<void> {
    await this.#sender.close();
  }

  async #send(job: DeliveryJob): Promise<Verdict> {
    const token = job.device?.token;
    if (!token) return { status: 'failed', error: 'the delivery has no FCM registration token' };
    const credentials = await this.#credentials(job.appId);
    if ('status' in credentials) return credentials;
    return this.#sender.send(credentials, { message: buildFcmMessage(job, token) });
  }

  async #credentials(appId: string): Promise<FcmCredentials | Verdict> {
    const app = await this.#deps.credentials.get(appId);
    if (!app) return { status: 'failed', error: `unknown app "${appId}"` };
    if (!app.fcm) {
      const problem = appId === 'default'
        ? 'FCM is not configured: set HERALD_FCM_SERVICE_ACCOUNT_FILE to a service-account JSON'
        : `FCM is not configured for app "${appId}": PUT /v1/apps/${appId} with fcm.serviceAccount`;
      return { status: 'failed', error: problem, appProblem: problem };
    }
    return app.fcm;
  }

}
