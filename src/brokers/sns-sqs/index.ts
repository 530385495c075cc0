import { cachedPromise } from '../promise-cache.ts';
import { createHash } from 'node:crypto';
import { PublishCommand, SNSClient, type MessageAttributeValue as SnsAttribute } from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SQSClient,
  SendMessageCommand,
  type Message as SqsMessage,
} from '@aws-sdk/client-sqs';
import type { Logger } from '../../log/index.ts';
import { coerceError } from '../../log/index.ts';
import { DEFAULTS, dispatchMessage, within } from '../handle.ts';
import { ConcurrencyGate } from '../gate.ts';
import { BatchDeleter } from './deleter.ts';
import { ensureQueue, queueName, resolveTopicArn, subscribeQueue } from './resources.ts';
import {
  DEAD_LETTER_REASON,
  type Broker,
  type BrokerMessage,
  type DeadLetterTarget,
  type MessageHandler,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from '../types.ts';

export interface SnsSqsBrokerOptions {
  readonly autoCreate: boolean;
  readonly log: Logger;
  /** Default: the SDK's own resolution (AWS_REGION, AWS_ENDPOINT_URL, standard credentials). */
  readonly region?: string;
  readonly endpoint?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Long-poll wait of ReceiveMessage (max 20 s). */
  readonly waitTimeSeconds?: number;
}

const MAX_VISIBILITY_SECONDS = 43_200; // SQS maximum: 12 hours

/**
 * AWS SNS → SQS, as the old NestJS system wired it: a topic is an SNS topic (a name, or an ARN used as is),
 * a subscription is an SQS queue subscribed to it with raw message delivery (the body arrives
 * unwrapped and the SNS message attributes become SQS message attributes), and each queue has
 * a `<queue>-dlq` dead-letter queue with a redrive policy.
 */
export class SnsSqsBroker implements Broker {
  readonly name = 'sns' as const;
  readonly #options: SnsSqsBrokerOptions;
  readonly #sns: SNSClient;
  readonly #sqs: SQSClient;
  readonly #topics = new Map<string, Promise<string>>();
  readonly #subscriptions = new Set<Subscription>();

  constructor(options: SnsSqsBrokerOptions) {
    this.#options = options;
    const clientConfig = {
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    };
    this.#sns = new SNSClient(clientConfig);
    this.#sqs = new SQSClient(clientConfig);
  }

  async #topicArn(topic: string): Promise<string> {
    if (topic.startsWith('arn:')) return topic;
    return cachedPromise(this.#topics, topic, () => resolveTopicArn(this.#sns, topic, this.#options.autoCreate));
  }

  async ensureTopic(topic: string): Promise<void> {
    await this.#topicArn(topic);
  }

  async publish(topic: string, body: Buffer | string, options: PublishOptions = {}): Promise<string> {
    const arn = await this.#topicArn(topic);
    const text = typeof body === 'string' ? body : body.toString('utf8');
    const attributes: Record<string, SnsAttribute> = {};
    // SNS rejects empty attribute values; an absent attribute says the same.
    for (const [k, v] of Object.entries(options.attributes ?? {})) if (v !== '') attributes[k] = { DataType: 'String', StringValue: v };
    if (options.dedupeId) attributes.dedupeId = { DataType: 'String', StringValue: options.dedupeId };
    // FIFO topics order by message group and drop repeats by deduplication id:
    // https://docs.aws.amazon.com/sns/latest/dg/fifo-message-dedup.html
    const fifo = arn.endsWith('.fifo');
    const out = await this.#sns.send(
      new PublishCommand({
        TopicArn: arn,
        Message: text,
        MessageAttributes: attributes,
        ...(fifo
          ? {
              MessageGroupId: options.orderingKey ?? 'default',
              MessageDeduplicationId: options.dedupeId ?? createHash('sha256').update(text).digest('hex'),
            }
          : {}),
      }),
    );
    return out.MessageId ?? '';
  }

  deadLetterTarget(subscription: string): DeadLetterTarget {
    return { subscription: `${queueName(subscription)}-dlq` };
  }

  async subscribe(options: SubscribeOptions, handler: MessageHandler): Promise<Subscription> {
    const maxDeliveries = options.maxDeliveries ?? DEFAULTS.maxDeliveries;
    const queue = await ensureQueue(this.#sqs, options.subscription, {
      autoCreate: this.#options.autoCreate,
      visibilityTimeoutSeconds: options.ackDeadlineSeconds ?? DEFAULTS.ackDeadlineSeconds,
      // One more receive than the handler limit dead-letters with a reason; the redrive policy
      // only catches a consumer that dies on the message every time.
      maxReceiveCount: maxDeliveries + 2,
    });
    if (options.topic && this.#options.autoCreate) await subscribeQueue(this.#sns, this.#sqs, await this.#topicArn(options.topic), queue);
    const deleter = new BatchDeleter(this.#sqs, queue.url);
    const gate = new ConcurrencyGate(options.maxInFlight ?? DEFAULTS.maxInFlight);
    const abort = new AbortController();
    const log = this.#options.log;
    const dlq = this.deadLetterTarget(options.subscription).subscription;
    const loop = (async () => {
      while (!abort.signal.aborted) {
        try {
          await gate.acquire();
          gate.release();
          const free = Math.max(1, Math.min(10, (options.maxInFlight ?? DEFAULTS.maxInFlight) - gate.active));
          const out = await this.#sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queue.url,
              MaxNumberOfMessages: free,
              WaitTimeSeconds: this.#options.waitTimeSeconds ?? 20,
              MessageAttributeNames: ['All'],
              MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
            }),
            { abortSignal: abort.signal },
          );
          for (const m of out.Messages ?? []) {
            await gate.acquire();
            if (abort.signal.aborted) {
              gate.release(); // closed meanwhile: the message comes back after its visibility timeout
              break;
            }
            void dispatchMessage(this.#wrap(m, queue.url, dlq, deleter), handler, options, log).finally(() => gate.release());
          }
        } catch (err) {
          if (abort.signal.aborted) break;
          log.warn({ err: coerceError(err), queue: queue.url }, 'SQS receive failed; retrying');
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })();
    const subscription: Subscription = {
      close: async () => {
        this.#subscriptions.delete(subscription);
        abort.abort();
        // A loop waiting for a free slot ends when the handlers do, or is abandoned with them.
        await within(Promise.all([loop, gate.idle()]), options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs);
        await deleter.drain();
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  #wrap(m: SqsMessage, queueUrl: string, dlqName: string, deleter: BatchDeleter): BrokerMessage {
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) if (v.StringValue !== undefined) attributes[k] = v.StringValue;
    const receipt = m.ReceiptHandle ?? '';
    const body = Buffer.from(m.Body ?? '', 'utf8');
    const visibility = (seconds: number) =>
      this.#sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receipt,
          VisibilityTimeout: Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(seconds))),
        }),
      );
    return {
      id: m.MessageId ?? '',
      body,
      attributes,
      deliveryAttempt: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
      publishedAt: new Date(Number(m.Attributes?.SentTimestamp ?? Date.now())),
      ack: () => deleter.delete(receipt),
      nack: async (delayMs = 0) => {
        await visibility(delayMs / 1000);
      },
      extend: async (ms: number) => {
        await visibility(ms / 1000);
      },
      deadLetter: async (reason: string) => {
        const url = (await this.#sqs.send(new GetQueueUrlCommand({ QueueName: dlqName }))).QueueUrl;
        const out: Record<string, { DataType: string; StringValue: string }> = {};
        for (const [k, v] of Object.entries({ ...attributes, [DEAD_LETTER_REASON]: reason.slice(0, 1000), originalId: m.MessageId ?? '' })) {
          if (v !== '') out[k] = { DataType: 'String', StringValue: v };
        }
        await this.#sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: m.Body ?? '', MessageAttributes: out }));
        await deleter.delete(receipt);
      },
    };
  }

  async close(): Promise<void> {
    for (const s of [...this.#subscriptions]) await s.close();
    this.#sns.destroy();
    this.#sqs.destroy();
  }
}
