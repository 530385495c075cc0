import type { Context } from '../core/context.ts';
import { Health } from '../health/index.ts';
import { NO_HOOKS, type DomainHooks } from '../core/hooks.ts';
import { UserService } from '../users/index.ts';
import { DeviceService } from '../devices/index.ts';
import { ReminderService, RecurrenceEvaluator } from '../reminders/index.ts';
import { AppService, CredentialStore } from '../apps/index.ts';
import { EventService } from '../events/index.ts';
import { NotificationService } from '../notifications/service.ts';
import { InboxService } from '../inbox/index.ts';
import { TemplateService } from '../templates/index.ts';
import { TopicService } from '../topics/index.ts';
import { PreferenceService } from '../preferences/index.ts';
import { UnsubscribeLinks } from '../preferences/unsubscribe.ts';
import { engineHooks } from '../scheduler/hooks.ts';
import { validatePushDevice } from '../channels/fcm/validate.ts';
import { FcmSender } from '../channels/fcm/sender.ts';
import { engineMetrics } from '../dispatch/metrics.ts';
import { backlog } from '../dispatch/repository.ts';
import { OutboundPolicy } from '../outbound/index.ts';
import { KeyService } from '../auth/key-service.ts';
import { ConsoleService } from '../console/index.ts';

/**
 * The domain services, built once per process from the context and handed to the API and the
 * roles. Each capability adds its service here.
 */
export interface Services {
  readonly health: Health;
  /** The engine's hooks into user/device/reminder transactions (scheduling, fan-out, cancelling). */
  readonly hooks: DomainHooks;
  readonly users: UserService;
  readonly devices: DeviceService;
  readonly reminders: ReminderService;
  /** Evaluates recurrence rules on worker threads under a time budget (API and scheduler). */
  readonly recurrences: RecurrenceEvaluator;
  readonly apps: AppService;
  readonly events: EventService;
  /** Decrypted app credentials for the channels (the `default` app from HERALD_* variables). */
  readonly credentials: CredentialStore;
  readonly notifications: NotificationService;
  readonly inbox: InboxService;
  readonly templates: TemplateService;
  /** API keys made through /v1/keys (scopes, apps, expiry). */
  readonly keys: KeyService;
  /** The operator console's statistics, searches and re-drive (its rollup loop runs in the API role). */
  readonly console: ConsoleService;
  readonly topics: TopicService;
  readonly preferences: PreferenceService;
  /** Signs and checks one-click unsubscribe links (RFC 8058). */
  readonly unsubscribeLinks: UnsubscribeLinks;
  /** Close what the services hold open (inbox streams, the FCM connections of token checks). */
  close(): Promise<void>;
}

export interface ServiceOptions {
  /**
   * The hooks the domain services run, asked on every call with the engine's own: tests answer
   * with theirs (none, or one that records what it saw). Default: the engine's.
   */
  readonly hooks?: ((engine: DomainHooks) => DomainHooks) | undefined;
}

export function buildServices(ctx: Context, options: ServiceOptions = {}): Services {
  const credentials = new CredentialStore({ pool: ctx.pool, keyring: ctx.keyring, config: ctx.config, dataDir: ctx.dataDir, log: ctx.log });
  // One sender for every registration-time token check: its OAuth tokens and HTTP/2 connections
  // are kept across registrations instead of an OAuth exchange and a TLS handshake per device.
  const fcmChecks = new FcmSender({ url: ctx.config.fcm.url });
  // Registration-time token check (FCM's validate_only dry run), for apps that set fcm.validateTokens.
  const engine = engineHooks({ ...NO_HOOKS, validateDevice: (device) => validatePushDevice(credentials, device, fcmChecks) });
  const custom = options.hooks;
  const hooks = custom ? (): DomainHooks => custom(engine) : (): DomainHooks => engine;
  // Where URLs that requests name (Web Push endpoints, webhook URLs) may point: checked on the way in.
  const outbound = new OutboundPolicy(ctx.config.outbound.allow);
  const recurrences = new RecurrenceEvaluator(ctx.config.recurrence);
  const unsubscribeLinks = new UnsubscribeLinks(ctx.keyring, { publicUrl: ctx.config.audiences.publicUrl, days: ctx.config.audiences.unsubscribeLinkDays });
  const services: Services = {
    health: new Health(),
    hooks: engine,
    users: new UserService(ctx.pool, hooks),
    devices: new DeviceService(ctx.pool, hooks, outbound, ctx.config.userCaps.devices),
    reminders: new ReminderService(ctx.pool, hooks, recurrences, undefined, ctx.config.userCaps.reminders),
    recurrences,
    apps: new AppService(ctx.pool, ctx.keyring, credentials, outbound),
    events: new EventService(ctx.pool),
    credentials,
    notifications: new NotificationService(ctx.pool, outbound),
    inbox: new InboxService(ctx.pool, ctx.log, { maxStreamsPerUser: ctx.config.sseMaxStreamsPerUser }),
    async close() {
      await Promise.allSettled([services.inbox.close(), fcmChecks.close(), recurrences.close()]);
    },
    templates: new TemplateService(ctx.pool),
    keys: new KeyService(ctx.pool),
    console: new ConsoleService(ctx.pool, ctx.log),
    topics: new TopicService(ctx.pool, ctx.config.userCaps.topics),
    preferences: new PreferenceService(ctx.pool, unsubscribeLinks),
    unsubscribeLinks,
  };
  const metrics = engineMetrics(ctx.metrics);
  services.health.addGauges('deliveries', async () => {
    const b = await backlog(ctx.pool);
    metrics.due.set(b.due);
    metrics.oldestDue.set(b.oldestDueSeconds);
  });
  return services;
}
