import { DeleteMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

interface Pending {
  readonly receiptHandle: string;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Acks become DeleteMessageBatch calls of up to 10 entries (the SQS maximum), gathered within
 * one event-loop turn, so a busy consumer makes one request per ten acks instead of ten.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessageBatch.html
 */
export class BatchDeleter {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;
  #pending: Pending[] = [];
  #scheduled = false;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(sqs: SQSClient, queueUrl: string) {
    this.#sqs = sqs;
    this.#queueUrl = queueUrl;
  }

  delete(receiptHandle: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ receiptHandle, resolve, reject });
      if (this.#pending.length >= 10) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, 10);
      const p = this.#send(batch).finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    }
  }

  async #send(batch: readonly Pending[]): Promise<void> {
    try {
      const out = await this.#sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.#queueUrl,
          Entries: batch.map((p, i) => ({ Id: String(i), ReceiptHandle: p.receiptHandle })),
        }),
      );
      const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
      batch.forEach((p, i) => {
        const f = failed.get(String(i));
        if (f) p.reject(new Error(`SQS could not delete a message: ${f.Code} ${f.Message ?? ''}`));
        else p.resolve();
      });
    } catch (err) {
      for (const p of batch) p.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async drain(): Promise<void> {
    this.#flush();
    await Promise.allSettled([...this.#inFlight]);
  }
}
