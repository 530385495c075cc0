export { ReminderService, type ReminderInput, type ReminderPatch, type Channel } from './service.ts';
export type { Reminder } from './repository.ts';
export { nextOccurrence, firstFireTime, parseRecurrence, isValidTimeZone, type Schedulable } from './schedule.ts';
