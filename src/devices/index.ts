export { DeviceService, type DeviceInput } from './service.ts';
export type { Device, Platform, WebSubscription } from './repository.ts';
