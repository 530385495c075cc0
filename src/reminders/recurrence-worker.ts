import type { MessagePort } from 'node:worker_threads';
import { HeraldError } from '../errors/index.ts';
import { nextOccurrence, type Schedulable } from './schedule.ts';

/**
 * The worker-thread side of RecurrenceEvaluator: evaluates one reminder's next occurrence. An
 * error crosses the thread boundary as plain data (a class instance would not survive the
 * structured clone); only herald's own INVALID_RECURRENCE keeps its message, anything else is
 * reported without the library's internal text.
 */
export interface RecurrenceTask {
  readonly reminder: Schedulable;
  readonly after: Date;
  /** Told when the evaluation starts: the evaluator's budget runs from then. */
  readonly started?: MessagePort | undefined;
}

export type RecurrenceAnswer = { readonly ok: true; readonly next: Date | null } | { readonly ok: false; readonly message: string; readonly details?: unknown };

export default function evaluate(task: RecurrenceTask): RecurrenceAnswer {
  task.started?.postMessage(0);
  task.started?.close();
  try {
    return { ok: true, next: nextOccurrence(task.reminder, task.after) };
  } catch (err) {
    if (err instanceof HeraldError && err.code === 'INVALID_RECURRENCE') return { ok: false, message: err.message, details: err.details };
    return { ok: false, message: 'recurrence: the rule cannot be evaluated' };
  }
}
