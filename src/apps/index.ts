export { AppService, type AppView } from './service.ts';
export { CredentialStore } from './credentials.ts';
export type { AppInput } from './validate.ts';
export type * from './types.ts';
