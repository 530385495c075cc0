import type { Context } from './context.ts';
import { Health } from '../health/index.ts';
import { NO_HOOKS, type DomainHooks } from './hooks.ts';
import { UserService } from '../users/index.ts';
import { DeviceService } from '../devices/index.ts';
import { ReminderService } from '../reminders/index.ts';
import { AppService, CredentialStore } from '../apps/index.ts';
import { EventService } from '../events/index.ts';
import { NotificationService } from '../notifications/service.ts';
import { InboxService } from '../inbox/index.ts';
import { TemplateService } from '../templates/index.ts';
import { engineHooks } from '../scheduler/hooks.ts';
import { validatePushDevice } from '../channels/fcm/validate.ts';
import { engineMetrics } from '../dispatch/metrics.ts';
import { backlog } from '../dispatch/store.ts';

/**
 * The domain services, built once per process from the context and handed to the API and the
 * roles. Each capability adds its service here.
 */
export interface Services {
  readonly health: Health;
  /** The engine's hooks into user/device/reminder transactions; services read this field on every call. */
  hooks: DomainHooks;
  readonly users: UserService;
  readonly devices: DeviceService;
  readonly reminders: ReminderService;
  readonly apps: AppService;
  readonly events: EventService;
  /** Decrypted app credentials for the channels (the `default` app from HERALD_* variables). */
  readonly credentials: CredentialStore;
  readonly notifications: NotificationService;
  readonly inbox: InboxService;
  readonly templates: TemplateService;
}

export function buildServices(ctx: Context): Services {
  const credentials = new CredentialStore({ pool: ctx.pool, secretKey: ctx.secretKey, config: ctx.config, dataDir: ctx.dataDir, log: ctx.log });
  const hooks = (): DomainHooks => services.hooks;
  const services: Services = {
    health: new Health(),
    // Registration-time token check (seed 002's dry run), for apps that set fcm.validateTokens.
    hooks: engineHooks({ ...NO_HOOKS, validateDevice: (device) => validatePushDevice(credentials, device) }),
    users: new UserService(ctx.pool, hooks),
    devices: new DeviceService(ctx.pool, hooks),
    reminders: new ReminderService(ctx.pool, hooks),
    apps: new AppService(ctx.pool, ctx.secretKey, credentials),
    events: new EventService(ctx.pool),
    credentials,
    notifications: new NotificationService(ctx.pool),
    inbox: new InboxService(ctx.pool, ctx.log),
    templates: new TemplateService(ctx.pool),
  };
  const metrics = engineMetrics(ctx.metrics);
  services.health.addGauges('deliveries', async () => {
    const b = await backlog(ctx.pool);
    metrics.due.set(b.due);
    metrics.oldestDue.set(b.oldestDueSeconds);
  });
  return services;
}
