import { createHash } from 'node:crypto';
import {
  CreateTopicCommand,
  ListTopicsCommand,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
  type MessageAttributeValue as SnsAttribute,
} from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SQSClient,
  SendMessageCommand,
  SetQueueAttributesCommand,
  type Message as SqsMessage,
} from '@aws-sdk/client-sqs';
import type { Logger } from '../../log/index.ts';
import { coerceError } from '../../log/index.ts';
import { DEFAULTS, dispatchMessage, within } from '../handle.ts';
import { ConcurrencyGate } from '../gate.ts';
import { BatchDeleter } from './deleter.ts';
import {
  BrokerError,
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
 * AWS SNS → SQS, as seed 002 wired it: a topic is an SNS topic (a name, or an ARN used as is),
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
    let known = this.#topics.get(topic);
    if (!known) {
      known = this.#resolveTopic(topic);
      this.#topics.set(topic, known);
      known.catch(() => this.#topics.delete(topic));
    }
    return known;
  }

  async #resolveTopic(name: string): Promise<string> {
    if (this.#options.autoCreate) {
      // CreateTopic is idempotent: it returns the existing topic's ARN.
      const fifo = name.endsWith('.fifo');
      const out = await this.#sns.send(new CreateTopicCommand({ Name: name, ...(fifo ? { Attributes: { FifoTopic: 'true' } } : {}) }));
      if (!out.TopicArn) throw new BrokerError('invalid', `SNS CreateTopic returned no ARN for ${name}`);
      return out.TopicArn;
    }
    let token: string | undefined;
    do {
      const page = await this.#sns.send(new ListTopicsCommand({ NextToken: token }));
      const hit = page.Topics?.find((t) => t.TopicArn?.endsWith(`:${name}`));
      if (hit?.TopicArn) return hit.TopicArn;
      token = page.NextToken;
    } while (token);
    throw new BrokerError('not-found', `no SNS topic ${name} (auto-create is off)`);
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

  /** Queue URL and ARN of a queue (a name or a URL), creating it and its DLQ when missing. */
  async #queue(subscription: string, options: SubscribeOptions): Promise<{ url: string; arn: string }> {
    let url: string | undefined;
    if (/^https?:\/\//.test(subscription)) url = subscription;
    else {
      try {
        url = (await this.#sqs.send(new GetQueueUrlCommand({ QueueName: subscription }))).QueueUrl;
      } catch (err) {
        if (!isMissingQueue(err)) throw err;
      }
    }
    if (!url) {
      if (!this.#options.autoCreate) throw new BrokerError('not-found', `no SQS queue ${subscription} (auto-create is off)`);
      const dlq = await this.#sqs.send(new CreateQueueCommand({ QueueName: `${subscription}-dlq` }));
      const dlqArn = await this.#queueArn(dlq.QueueUrl ?? '');
      const created = await this.#sqs.send(
        new CreateQueueCommand({
          QueueName: subscription,
          Attributes: {
            VisibilityTimeout: String(options.ackDeadlineSeconds ?? DEFAULTS.ackDeadlineSeconds),
            // One more receive than the handler limit: that receive dead-letters with a reason;
            // the redrive policy only catches consumers that die on the message every time.
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: dlqArn,
              maxReceiveCount: String((options.maxDeliveries ?? DEFAULTS.maxDeliveries) + 2),
            }),
          },
        }),
      );
      url = created.QueueUrl ?? '';
    }
    return { url, arn: await this.#queueArn(url) };
  }

  async #queueArn(url: string): Promise<string> {
    const out = await this.#sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    const arn = out.Attributes?.QueueArn;
    if (!arn) throw new BrokerError('invalid', `SQS queue ${url} has no ARN`);
    return arn;
  }

  async #subscribeQueue(topicArn: string, queue: { url: string; arn: string }): Promise<void> {
    // The queue must let the topic send to it:
    // https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'sns.amazonaws.com' },
          Action: 'sqs:SendMessage',
          Resource: queue.arn,
          Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
        },
      ],
    };
    await this.#sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: JSON.stringify(policy) } }));
    await this.#sns.send(
      new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queue.arn, Attributes: { RawMessageDelivery: 'true' } }),
    );
  }

  async subscribe(options: SubscribeOptions, handler: MessageHandler): Promise<Subscription> {
    const queue = await this.#queue(options.subscription, options);
    if (options.topic && this.#options.autoCreate) await this.#subscribeQueue(await this.#topicArn(options.topic), queue);
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

function queueName(subscription: string): string {
  return /^https?:\/\//.test(subscription) ? (subscription.split('/').pop() ?? subscription) : subscription;
}

function isMissingQueue(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name ?? '';
  return name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue';
}
