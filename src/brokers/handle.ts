import type { Logger } from '../log/index.ts';
import { coerceError } from '../log/index.ts';
import type { BrokerMessage, MessageHandler, SubscribeOptions } from '../core/broker.ts';

export const DEFAULTS = {
  maxInFlight: 32,
  ackDeadlineSeconds: 30,
  maxDeliveries: 10,
  retryDelayMs: 1000,
  drainTimeoutMs: 10_000,
} as const;

/** Resolves when `work` settles or after `ms`, whichever is first (never rejects). */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Wraps a message so it can be settled once only: the first ack/nack/deadLetter wins, later
 * ones are ignored (a handler that acks and then throws must not nack its message again).
 */
export function settleOnce(message: BrokerMessage): BrokerMessage & { readonly settled: boolean } {
  let settled = false;
  const once = <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      if (settled) return;
      settled = true;
      await fn(...args);
    };
  return {
    id: message.id,
    body: message.body,
    attributes: message.attributes,
    deliveryAttempt: message.deliveryAttempt,
    publishedAt: message.publishedAt,
    get settled() {
      return settled;
    },
    ack: once(() => message.ack()),
    nack: once((delayMs?: number) => message.nack(delayMs)),
    deadLetter: once((reason: string) => message.deadLetter(reason)),
    extend: (ms: number) => (settled ? Promise.resolve() : message.extend(ms)),
  };
}

/**
 * The part of consuming that is the same on every broker: the delivery limit, the handler,
 * and what happens when it throws. Never rejects (a consumer loop must not die of one message).
 */
export async function dispatchMessage(
  raw: BrokerMessage,
  handler: MessageHandler,
  options: SubscribeOptions,
  log: Logger,
): Promise<void> {
  const message = settleOnce(raw);
  const maxDeliveries = options.maxDeliveries ?? DEFAULTS.maxDeliveries;
  try {
    if (message.deliveryAttempt > maxDeliveries) {
      await message.deadLetter(`max deliveries (${maxDeliveries}) exceeded`);
      return;
    }
    await handler(message);
    if (!message.settled) await message.nack(options.retryDelayMs ?? DEFAULTS.retryDelayMs);
  } catch (err) {
    log.warn({ err: coerceError(err), messageId: message.id, subscription: options.subscription }, 'broker message handler failed; will be redelivered');
    await message.nack(options.retryDelayMs ?? DEFAULTS.retryDelayMs).catch((nackErr: unknown) =>
      log.warn({ err: coerceError(nackErr), messageId: message.id }, 'nack failed; the broker redelivers after the lease'),
    );
  }
}
