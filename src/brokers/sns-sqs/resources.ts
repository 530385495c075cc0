import { CreateTopicCommand, ListTopicsCommand, SubscribeCommand, type SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { BrokerError } from '../../core/broker.ts';

/** Topics, queues and subscriptions: found, or created when auto-create is on. */

export interface Queue {
  readonly url: string;
  readonly arn: string;
}

/** The ARN of the SNS topic called `name`. */
export async function resolveTopicArn(sns: SNSClient, name: string, autoCreate: boolean): Promise<string> {
  if (autoCreate) {
    // CreateTopic is idempotent: it returns the existing topic's ARN.
    const fifo = name.endsWith('.fifo');
    const out = await sns.send(new CreateTopicCommand({ Name: name, ...(fifo ? { Attributes: { FifoTopic: 'true' } } : {}) }));
    if (!out.TopicArn) throw new BrokerError('invalid', `SNS CreateTopic returned no ARN for ${name}`);
    return out.TopicArn;
  }
  let token: string | undefined;
  do {
    const page = await sns.send(new ListTopicsCommand({ NextToken: token }));
    const hit = page.Topics?.find((t) => t.TopicArn?.endsWith(`:${name}`));
    if (hit?.TopicArn) return hit.TopicArn;
    token = page.NextToken;
  } while (token);
  throw new BrokerError('not-found', `no SNS topic ${name} (auto-create is off)`);
}

export interface QueueSettings {
  readonly autoCreate: boolean;
  readonly visibilityTimeoutSeconds: number;
  /** Receives before the redrive policy moves a message to `<queue>-dlq`. */
  readonly maxReceiveCount: number;
}

/** A queue given by name or URL, created with its `<name>-dlq` and redrive policy when missing. */
export async function ensureQueue(sqs: SQSClient, subscription: string, settings: QueueSettings): Promise<Queue> {
  let url: string | undefined;
  if (/^https?:\/\//.test(subscription)) url = subscription;
  else {
    try {
      url = (await sqs.send(new GetQueueUrlCommand({ QueueName: subscription }))).QueueUrl;
    } catch (err) {
      if (!isMissingQueue(err)) throw err;
    }
  }
  if (!url) {
    if (!settings.autoCreate) throw new BrokerError('not-found', `no SQS queue ${subscription} (auto-create is off)`);
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${subscription}-dlq` }));
    const dlqArn = await queueArn(sqs, dlq.QueueUrl ?? '');
    const created = await sqs.send(
      new CreateQueueCommand({
        QueueName: subscription,
        Attributes: {
          VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: String(settings.maxReceiveCount) }),
        },
      }),
    );
    url = created.QueueUrl ?? '';
  }
  return { url, arn: await queueArn(sqs, url) };
}

export async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new BrokerError('invalid', `SQS queue ${url} has no ARN`);
  return arn;
}

/**
 * Subscribe the queue to the topic with raw message delivery (the body arrives unwrapped and
 * the SNS message attributes become SQS message attributes), and let the topic send to it:
 * https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
 * The queue policy is replaced: a queue herald creates is fed by one topic.
 */
export async function subscribeQueue(sns: SNSClient, sqs: SQSClient, topicArn: string, queue: Queue): Promise<void> {
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
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: JSON.stringify(policy) } }));
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queue.arn, Attributes: { RawMessageDelivery: 'true' } }));
}

export function queueName(subscription: string): string {
  return /^https?:\/\//.test(subscription) ? (subscription.split('/').pop() ?? subscription) : subscription;
}

export function isMissingQueue(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name ?? '';
  return name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue';
}
