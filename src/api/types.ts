import type { FastifyInstance } from 'fastify';
import type { KeyService } from '../auth/key-service.ts';
import type { Context } from '../core/context.ts';
import type { Health } from '../health/index.ts';
import type { UserService } from '../users/index.ts';
import type { DeviceService } from '../devices/index.ts';
import type { ReminderService } from '../reminders/index.ts';
import type { AppService, CredentialStore } from '../apps/index.ts';
import type { EventService } from '../events/index.ts';
import type { NotificationService } from '../notifications/service.ts';
import type { InboxService } from '../inbox/index.ts';
import type { TemplateService } from '../templates/index.ts';
import type { ConsoleService } from '../console/index.ts';
import type { TopicService } from '../topics/index.ts';
import type { PreferenceService } from '../preferences/index.ts';
import type { UnsubscribeLinks } from '../preferences/unsubscribe.ts';

/**
 * The domain services the routes call: a subset of what the composition root builds
 * (src/runtime/services.ts), named here so the API depends on the domain, not on the root.
 */
export interface ApiServices {
  readonly health: Health;
  readonly users: UserService;
  readonly devices: DeviceService;
  readonly reminders: ReminderService;
  readonly apps: AppService;
  readonly events: EventService;
  readonly credentials: CredentialStore;
  readonly notifications: NotificationService;
  readonly inbox: InboxService;
  readonly templates: TemplateService;
  readonly keys: KeyService;
  /** The operator console's statistics, searches and re-drive (src/console/). */
  readonly console: ConsoleService;
  readonly topics: TopicService;
  readonly preferences: PreferenceService;
  readonly unsubscribeLinks: UnsubscribeLinks;
}

/** What every route module is registered with (kept apart from app.ts so routes do not import it). */
export interface ApiDeps {
  readonly ctx: Context;
  readonly services: ApiServices;
  /** True while shutting down: /readyz answers 503 so load balancers stop sending. */
  readonly draining: () => boolean;
}

export type App = FastifyInstance;
