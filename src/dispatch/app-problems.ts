import type { AppChannel, AppCredentialStore } from '../apps/types.ts';
import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import type { Provider, Verdict } from '../channels/types.ts';

/**
 * Keeps each app's status in step with what deliveries learn, for every channel alike: a verdict
 * carrying `appProblem` records it (GET /v1/apps/{id} shows it), and the next success clears it.
 * Only changes reach the database: the same problem on ten thousand deliveries is one write, and
 * a healthy app costs nothing per delivery. A write that fails is forgotten, so the next verdict
 * tries again.
 */
export class AppProblemTracker {
  readonly #store: Pick<AppCredentialStore, 'reportProblem'>;
  readonly #log: Logger;
  /** `<app>/<channel>` → the problem last recorded (undefined: cleared by this process). */
  readonly #recorded = new Map<string, string | undefined>();

  constructor(store: Pick<AppCredentialStore, 'reportProblem'>, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  async track(appId: string, provider: Provider, verdict: Verdict): Promise<void> {
    if (provider === 'inbox') return;
    const channel: AppChannel = provider;
    const key = `${appId}/${channel}`;
    const problem = verdict.status === 'retry' || verdict.status === 'failed' ? verdict.appProblem : undefined;
    if (problem) {
      if (this.#recorded.get(key) === problem) return;
      this.#log.warn({ appId, channel, problem }, 'app configuration problem');
    } else if (verdict.status !== 'sent' || this.#recorded.get(key) === undefined) {
      return; // nothing learned, or nothing recorded to clear
    }
    this.#recorded.set(key, problem);
    try {
      await this.#store.reportProblem(appId, channel, problem);
    } catch (err) {
      if (this.#recorded.get(key) === problem) this.#recorded.delete(key);
      this.#log.warn({ err: coerceError(err), appId, channel }, 'could not record the app status');
    }
  }
}
