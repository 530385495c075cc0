import type { AppCredentialStore } from '../../src/apps/types.ts';
import type { Channel } from '../../src/channels/types.ts';
import { AppProblemTracker } from '../../src/dispatch/app-problems.ts';
import { createLogger } from '../../src/log/index.ts';

/**
 * A channel whose verdicts pass through the engine's app-problem tracker, as the delivery step
 * does after every send: for channel tests that check what an app's status records.
 */
export function trackingProblems<C extends Channel>(channel: C, store: Pick<AppCredentialStore, 'reportProblem'>): C {
  const tracker = new AppProblemTracker(store, createLogger('silent'));
  const send: Channel['send'] = async (job) => {
    const verdict = await channel.send(job);
    await tracker.track(job.appId, channel.provider, verdict);
    return verdict;
  };
  return new Proxy(channel, {
    get(target, key) {
      if (key === 'send') return send;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
