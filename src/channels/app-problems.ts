import type { AppChannel, AppCredentialStore } from '../apps/types.ts';
import type { Logger } from '../log/index.ts';
import type { Verdict } from './types.ts';

/**
 * Keeps an app's status in step with what a channel learns: a verdict carrying `appProblem`
 * records it (shown by GET /v1/apps/{id}), and the next success clears it. Only changes reach
 * the database, so a healthy app costs nothing per delivery.
 */
export class AppProblemTracker {
  readonly #troubled = new Set<string>();
  readonly #credentials: AppCredentialStore;
  readonly #channel: AppChannel;
  readonly #log: Logger;

  constructor(credentials: AppCredentialStore, channel: AppChannel, log: Logger) {
    this.#credentials = credentials;
    this.#channel = channel;
    this.#log = log;
  }

  async track(appId: string, verdict: Verdict): Promise<void> {
    const problem = verdict.status === 'retry' || verdict.status === 'failed' ? verdict.appProblem : undefined;
    if (!problem && !(verdict.status === 'sent' && this.#troubled.has(appId))) return;
    try {
      if (problem) this.#troubled.add(appId);
      else this.#troubled.delete(appId);
      await this.#credentials.reportProblem(appId, this.#channel, problem);
    } catch (err) {
      this.#log.warn({ err, appId, channel: this.#channel }, 'could not record the app credential status');
    }
  }
}
