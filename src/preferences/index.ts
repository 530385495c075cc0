export { PreferenceService, effective, PREFERENCE_CHANNELS, type NotificationType, type PreferenceView, type PreferencePatch, type TypeInput } from './service.ts';
