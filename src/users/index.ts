export { UserService } from './service.ts';
export type { User, UserFields, UserPreferences } from './repository.ts';
export { ensureUser } from './repository.ts';
