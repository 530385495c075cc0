import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { HeraldError } from '../errors/index.ts';
import { nextOccurrence, type Schedulable } from './schedule.ts';
import type { RecurrenceAnswer, RecurrenceTask } from './recurrence-worker.ts';

/** Why an evaluation gave no occurrence: the rule is refused, or it ran out of its time budget. */
export class RecurrenceError extends HeraldError {
  readonly reason: 'invalid' | 'budget';
  constructor(reason: 'invalid' | 'budget', message: string, details?: unknown) {
    super('INVALID_RECURRENCE', message, details ?? [{ field: 'body.recurrence', message }]);
    this.reason = reason;
  }
}

export interface RecurrenceEvaluatorOptions {
  /** Wall-clock time one evaluation may take on its thread before the thread is terminated. */
  readonly budgetMs: number;
  /** Worker threads (evaluations run at once). */
  readonly threads: number;
  /** The module the threads run (default recurrence-worker); tests give one that never returns. */
  readonly workerFile?: string | undefined;
}

/** Longest a thread may take to start (load its modules) before a task counts as failed. */
const STARTUP_MS = 30_000;

// The worker module sits next to this one: .ts when run from source (tests), .js once built.
const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), `recurrence-worker${path.extname(fileURLToPath(import.meta.url))}`);

/**
 * Evaluates recurrences off the event loop, under a budget nothing can escape. rrule runs
 * synchronously, and a rule that makes it loop (there were such rules: FREQ=HOURLY;BYHOUR=24)
 * would freeze the whole process: API, scheduler, worker, even SIGTERM. So every evaluation runs
 * on a small pool of worker threads (piscina), and one that overruns its budget has its thread
 * terminated (piscina terminates the thread of an aborted running task) and is answered
 * INVALID_RECURRENCE. Strict validation (rrule-parse.ts) and fast-forwarding (schedule.ts) keep
 * every valid rule far below the budget; the budget is the backstop for what they miss.
 *
 * The budget counts running time only: the thread says when it starts the task (a message on a
 * port handed over with it), and the clock starts then, so neither a queue of evaluations nor
 * the start of a replacement thread is charged to a rule. The pool starts its threads on first
 * use; idle threads do not keep a process alive.
 */
export class RecurrenceEvaluator {
  readonly #options: RecurrenceEvaluatorOptions;
  #pool: Piscina<RecurrenceTask, RecurrenceAnswer> | undefined;
  #closed = false;

  constructor(options: RecurrenceEvaluatorOptions) {
    this.#options = options;
  }

  /** The next fire time of `reminder` after `after` (null: none left); throws RecurrenceError. */
  async next(reminder: Schedulable, after: Date): Promise<Date | null> {
    // A one-off reminder is one subtraction: no rule to run.
    if (!reminder.recurrence) return nextOccurrence(reminder, after);
    const pool = this.#start();
    const controller = new AbortController();
    const { port1, port2 } = new MessageChannel();
    let overrun = false;
    let budget: NodeJS.Timeout | undefined;
    port1.once('message', () => {
      budget = setTimeout(() => {
        overrun = true;
        controller.abort();
      }, this.#options.budgetMs);
    });
    // A thread that never even starts the task (it cannot start) must not hold the caller for ever either.
    const ceiling = setTimeout(() => controller.abort(), this.#options.budgetMs + STARTUP_MS);
    try {
      // (piscina's TransferList type is derived from an older MessagePort typing than @types/node's.)
      const answer = await pool.run({ reminder, after, started: port2 }, { signal: controller.signal, transferList: [port2] as never }).catch((err: unknown) => {
        if ((err as Error).name === 'AbortError' && !this.#closed) return undefined;
        throw err;
      });
      if (answer === undefined) throw new RecurrenceError('budget', overrun ? 'recurrence: the rule takes too long to evaluate' : 'recurrence: no evaluation thread is available');
      if (!answer.ok) throw new RecurrenceError('invalid', answer.message, answer.details);
      return answer.next;
    } finally {
      clearTimeout(budget);
      clearTimeout(ceiling);
      port1.close();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.destroy();
  }

  #start(): Piscina<RecurrenceTask, RecurrenceAnswer> {
    if (this.#closed) throw new Error('the recurrence evaluator is closed');
    this.#pool ??= new Piscina<RecurrenceTask, RecurrenceAnswer>({
      filename: this.#options.workerFile ?? WORKER,
      minThreads: 1,
      maxThreads: this.#options.threads,
      idleTimeout: 60_000,
      // Tasks are short and synchronous; Atomics waits would only pin the threads.
      atomics: 'disabled',
    });
    return this.#pool;
  }
}
