import type { ChannelName } from '../core/notification.ts';
import { parseDuration } from '../core/duration.ts';
import { HeraldError } from '../errors/index.ts';

/**
 * Fallback chains (docs/timing.md § Fallback chains): `steps: [{channels: ["push", "inbox"]},
 * {after: "15m", channels: ["email"], unless: "read"}]`. The first step is the notification's own
 * fan-out; each later step's deliveries are made at once, pending and due `after` the
 * notification's time, and are cancelled when an earlier step was delivered (`unless:
 * "delivered"`, the default) or its inbox item read (`unless: "read"`). The schema checks the
 * shape; the rules a schema cannot say are checked here, before anything is stored.
 */

export type StepCondition = 'delivered' | 'read';

export interface StepInput {
  readonly channels: readonly ChannelName[];
  readonly after?: string;
  readonly unless?: StepCondition;
}

/** A step as the notification stores it (notifications.steps) and shows it. */
export interface StoredStep {
  readonly channels: readonly ChannelName[];
  /** null for the first step. */
  readonly after: string | null;
  readonly afterMs: number;
  readonly unless: StepCondition | null;
}

function refuse(index: number, key: string, message: string): never {
  const field = `body.steps.${index}${key ? `.${key}` : ''}`;
  throw new HeraldError('INVALID_STEPS', `${field.slice(5)}: ${message}`, [{ field, message }]);
}

/** What a notification to `target` ("users", "broadcast", "device") with these fields may have as steps. */
export interface StepsContext {
  readonly steps?: readonly StepInput[] | undefined;
  readonly channels?: readonly unknown[] | undefined;
  readonly target: 'users' | 'broadcast' | 'device';
}

/**
 * The steps as stored, or undefined without steps. 422 INVALID_STEPS naming the field: `steps`
 * beside `channels`, steps on a broadcast or a raw device (their fan-out has no per-user chain),
 * a first step with `after` or `unless`, a later step without `after` (or `"0s"`) or due before
 * the step before it, a channel in two steps, `unless: "read"` with no inbox earlier.
 */
export function checkSteps(ctx: StepsContext): StoredStep[] | undefined {
  const { steps } = ctx;
  if (steps === undefined) return undefined;
  if (ctx.channels !== undefined) {
    throw new HeraldError('INVALID_STEPS', 'steps: give either channels or steps, not both (the first step names the first channels)', [{ field: 'body.steps', message: 'not allowed with channels' }]);
  }
  if (ctx.target !== 'users') {
    throw new HeraldError('INVALID_STEPS', `steps: fallback chains are for notifications to users, not to a ${ctx.target === 'device' ? 'raw device' : 'topic or everyone'}`, [{ field: 'body.steps', message: 'only for notifications to users' }]);
  }
  const seen = new Map<ChannelName, number>();
  let previousMs = 0;
  return steps.map((step, i) => {
    for (const channel of step.channels) {
      const earlier = seen.get(channel);
      if (earlier !== undefined) refuse(i, 'channels', `${channel} is already in steps.${earlier}`);
    }
    if (i === 0) {
      if (step.after !== undefined) refuse(0, 'after', 'the first step goes at the notification\'s time; give it no after');
      if (step.unless !== undefined) refuse(0, 'unless', 'the first step always goes; unless is for later steps');
    } else {
      if (step.after === undefined) refuse(i, 'after', 'a later step needs after (e.g. "15m")');
      const ms = parseDuration(step.after);
      if (ms === undefined || ms <= 0) refuse(i, 'after', 'must be a duration above zero and at most a year ("30s", "15m", "1h", "1d")');
      if (ms < previousMs) refuse(i, 'after', `must not be shorter than steps.${i - 1}.after`);
      if (step.unless === 'read' && !seen.has('inbox')) refuse(i, 'unless', '"read" needs the inbox channel in an earlier step');
      previousMs = ms;
    }
    for (const channel of step.channels) seen.set(channel, i);
    return { channels: [...step.channels], after: step.after ?? null, afterMs: i === 0 ? 0 : previousMs, unless: i === 0 ? null : (step.unless ?? 'delivered') };
  });
}

/** The view of a step's deliveries: how many in each state, and the state they add up to. */
export interface StepCounts {
  pending: number;
  sending: number;
  sent: number;
  failed: number;
  expired: number;
  cancelled: number;
  capped: number;
}

/**
 * A step's status from its deliveries' (a user's, or all of them): waiting (all still pending),
 * sending, sent (one or more sent), cancelled (every one cancelled: an earlier step was delivered
 * or read), capped (every one dropped by a frequency cap), failed / expired (none sent), none
 * (nothing to deliver: no device, channel off).
 */
export function stepStatus(c: StepCounts): string {
  const total = c.pending + c.sending + c.sent + c.failed + c.expired + c.cancelled + c.capped;
  if (total === 0) return 'none';
  if (c.sending > 0) return 'sending';
  if (c.pending === total) return 'waiting';
  if (c.pending > 0) return 'sending';
  if (c.sent > 0) return 'sent';
  if (c.cancelled === total) return 'cancelled';
  if (c.capped === total) return 'capped';
  if (c.failed + c.expired === 0) return c.cancelled >= c.capped ? 'cancelled' : 'capped';
  return c.failed >= c.expired ? 'failed' : 'expired';
}
