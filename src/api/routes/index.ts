import type { App, ApiDeps } from '../types.ts';
import { healthRoutes } from './health.ts';
import { userRoutes } from './users.ts';
import { deviceRoutes } from './devices.ts';
import { reminderRoutes } from './reminders.ts';
import { eventRoutes } from './events.ts';
import { appRoutes } from './apps.ts';
import { webpushRoutes } from './webpush.ts';
import { notificationRoutes } from './notifications.ts';
import { inboxRoutes } from './inbox.ts';
import { assetRoutes } from './assets.ts';
import { templateRoutes } from './templates.ts';
import { keyRoutes } from './keys.ts';
import { auditRoutes } from './audit.ts';
import { consoleRoutes } from './console.ts';
import { topicRoutes } from './topics.ts';
import { preferenceRoutes } from './preferences.ts';
import { unsubscribeRoutes } from './unsubscribe.ts';

/** Every route module, registered in one place. */
export async function registerRoutes(app: App, deps: ApiDeps): Promise<void> {
  await app.register(healthRoutes, deps);
  await app.register(userRoutes, deps);
  await app.register(deviceRoutes, deps);
  await app.register(reminderRoutes, deps);
  await app.register(eventRoutes, deps);
  await app.register(appRoutes, deps);
  await app.register(webpushRoutes, deps);
  await app.register(notificationRoutes, deps);
  await app.register(inboxRoutes, deps);
  await app.register(assetRoutes);
  await app.register(templateRoutes, deps);
  await app.register(keyRoutes, deps);
  await app.register(auditRoutes, deps);
  await app.register(consoleRoutes, deps);
  await app.register(topicRoutes, deps);
  await app.register(preferenceRoutes, deps);
  await app.register(unsubscribeRoutes, deps);
}
