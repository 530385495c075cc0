export { ReminderService, type ReminderInput, type ReminderPatch, type Channel } from './service.ts';
export type { Reminder } from './repository.ts';
export { RecurrenceEvaluator, RecurrenceError } from './recurrence-pool.ts';
export { nextOccurrence, firstFireTime, parseRecurrence, isValidTimeZone, type Schedulable } from './schedule.ts';
