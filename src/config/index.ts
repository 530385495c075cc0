import { isIP } from 'node:net';
import { VARIABLES, type VarSpec, ROLE_NAMES, BROKER_NAMES, INGEST_SOURCES } from './spec.ts';
import { parseAllowEntry } from '../outbound/policy.ts';

export { VARIABLES, ROLE_NAMES } from './spec.ts';
export { redactConfig, urlWithoutCredentials, REDACTED } from './redact.ts';
import { urlWithoutCredentials } from './redact.ts';
export type RoleName = (typeof ROLE_NAMES)[number];
export type BrokerName = (typeof BROKER_NAMES)[number];
export type IngestSource = (typeof INGEST_SOURCES)[number];

export interface Config {
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly databasePoolSize: number;
  readonly port: number;
  readonly host: string;
  readonly logLevel: string;
  readonly apiKey: string | undefined;
  readonly roles: readonly RoleName[];
  readonly secretKey: string | undefined;
  readonly secretKeysPrevious: readonly string[];
  readonly userJwtSecret: string | undefined;
  readonly userJwksUrl: string | undefined;
  readonly userJwt: {
    readonly maxAgeSeconds: number;
    readonly issuer: readonly string[] | undefined;
    readonly audience: readonly string[] | undefined;
    readonly appClaim: string;
  };
  readonly sseMaxStreamsPerUser: number;
  /** Requests per window (0: no limit); see src/limits/. */
  readonly rateLimit: {
    readonly windowSeconds: number;
    readonly perKey: number;
    readonly perUser: number;
    readonly authFailures: number;
  };
  /** Where /metrics, /openapi.json and /docs are served (undefined: HERALD_PORT) and the token they want. */
  readonly ops: { readonly port: number | undefined; readonly token: string | undefined };
  /** The scheduler's retention pass (src/retention/). */
  readonly retention: { readonly days: number; readonly intervalSeconds: number; readonly batch: number };
  /** What one user may own (0: no limit). */
  readonly userCaps: { readonly devices: number; readonly reminders: number; readonly topics: number };
  readonly trustGatewayHeaders: boolean;
  readonly maxBodyBytes: number;
  /** Browser origins allowed to call /v1/me/... (CORS); empty = none, `*` = any. */
  readonly corsOrigins: readonly string[];
  /** X-Forwarded-For is believed from these proxies: false (none), a hop count, or addresses/CIDRs. */
  readonly trustProxy: false | number | readonly string[];
  readonly http: {
    readonly requestTimeoutMs: number;
    readonly headersTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly maxConnections: number;
    readonly maxRequestsPerSocket: number;
    readonly maxJsonDepth: number;
  };
  readonly apns: {
    readonly keyFile: string | undefined;
    readonly keyId: string | undefined;
    readonly teamId: string | undefined;
    readonly certFile: string | undefined;
    readonly privateKeyFile: string | undefined;
    readonly passphrase: string | undefined;
    readonly bundleId: string | undefined;
    readonly environment: 'production' | 'development';
    readonly url: string | undefined;
  };
  readonly fcm: { readonly serviceAccountFile: string | undefined; readonly url: string };
  readonly webpush: {
    readonly publicKey: string | undefined;
    readonly privateKey: string | undefined;
    readonly subject: string | undefined;
  };
  readonly email: {
    readonly smtpUrl: string | undefined;
    readonly from: string | undefined;
    readonly sesRegion: string | undefined;
  };
  readonly webhook: { readonly url: string | undefined; readonly secret: string | undefined; readonly timeoutMs: number };
  /** HERALD_OUTBOUND_ALLOW: exceptions to the outbound URL policy (src/outbound/). */
  readonly outbound: { readonly allow: readonly string[] };
  readonly worker: {
    readonly channels: readonly string[] | undefined;
    readonly batchSize: number;
    readonly concurrency: number;
    readonly leaseSeconds: number;
  };
  readonly events: { readonly broker: BrokerName | undefined; readonly topic: string };
  readonly pubsub: { readonly project: string | undefined };
  readonly ingestApns: { readonly subscription: string; readonly topic: string; readonly maxAgeSeconds: number };
  readonly ingest: { readonly from: IngestSource | undefined; readonly topic: string; readonly subscription: string };
  readonly brokerAutoCreate: boolean;
  readonly natsUrl: string;
  readonly dispatch: { readonly mode: 'postgres' | 'nats'; readonly subjectPrefix: string };
  readonly shutdownTimeoutMs: number;
  readonly recurrence: { readonly budgetMs: number; readonly threads: number };
  readonly audiences: { readonly chunkSize: number; readonly publicUrl: string | undefined; readonly unsubscribeLinkDays: number };
}

/** A bad environment: every problem found, each naming its variable. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Value = string | number | boolean | readonly string[] | undefined;

function parseOne(spec: VarSpec, raw: string | undefined, problems: string[]): Value {
  const text = raw === undefined || raw.trim() === '' ? spec.default : raw.trim();
  if (text === undefined) return undefined;
  const fail = (expected: string): undefined => {
    problems.push(`${spec.name}=${spec.secret ? '[redacted]' : JSON.stringify(text)}: expected ${expected}`);
    return undefined;
  };
  const kind = spec.kind;
  switch (kind.type) {
    case 'string':
      return text;
    case 'int': {
      if (!/^-?\d+$/.test(text)) return fail(`a whole number from ${kind.min} to ${kind.max}`);
      const n = Number(text);
      if (n < kind.min || n > kind.max) return fail(`a whole number from ${kind.min} to ${kind.max}`);
      return n;
    }
    case 'bool':
      if (['true', '1', 'yes', 'on'].includes(text.toLowerCase())) return true;
      if (['false', '0', 'no', 'off'].includes(text.toLowerCase())) return false;
      return fail('true or false');
    case 'enum':
      return kind.values.includes(text) ? text : fail(`one of ${kind.values.join(', ')}`);
    case 'url': {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        return fail(`a URL (${kind.protocols.join(' or ')})`);
      }
      return kind.protocols.includes(url.protocol) ? text : fail(`a URL (${kind.protocols.join(' or ')})`);
    }
    case 'list': {
      const items = text.split(',').map((s) => s.trim()).filter(Boolean);
      const allowed = kind.values;
      if (allowed) {
        const bad = items.filter((i) => !allowed.includes(i));
        if (bad.length > 0) return fail(`a comma-separated list of ${allowed.join(', ')} (unknown: ${bad.join(', ')})`);
      }
      return items;
    }
  }
}

/** Parse and validate the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const v = new Map<string, Value>();
  for (const spec of VARIABLES) v.set(spec.name, parseOne(spec, env[spec.name], problems));
  const s = (name: string) => v.get(name) as string | undefined;
  const n = (name: string) => v.get(name) as number;
  const b = (name: string) => v.get(name) as boolean;

  if (s('HERALD_APNS_KEY_FILE') && !(s('HERALD_APNS_KEY_ID') && s('HERALD_APNS_TEAM_ID'))) {
    problems.push('HERALD_APNS_KEY_FILE is set: HERALD_APNS_KEY_ID and HERALD_APNS_TEAM_ID are required with it');
  }
  if (s('HERALD_APNS_CERT_FILE') && s('HERALD_APNS_KEY_FILE')) {
    problems.push('HERALD_APNS_CERT_FILE and HERALD_APNS_KEY_FILE are both set: choose certificate or token auth');
  }
  if (Boolean(s('HERALD_VAPID_PUBLIC_KEY')) !== Boolean(s('HERALD_VAPID_PRIVATE_KEY'))) {
    problems.push('HERALD_VAPID_PUBLIC_KEY and HERALD_VAPID_PRIVATE_KEY go together: set both or neither');
  }
  if (s('HERALD_EVENTS_BROKER') === 'pubsub' && !s('HERALD_PUBSUB_PROJECT')) {
    problems.push('HERALD_EVENTS_BROKER=pubsub: HERALD_PUBSUB_PROJECT is required');
  }
  if (s('HERALD_INGEST_FROM') === 'pubsub' && !s('HERALD_PUBSUB_PROJECT')) {
    problems.push('HERALD_INGEST_FROM=pubsub: HERALD_PUBSUB_PROJECT is required');
  }
  const apiKey = s('HERALD_API_KEY');
  if (apiKey !== undefined && (apiKey.length < 16 || /\s/.test(apiKey))) {
    problems.push('HERALD_API_KEY=[redacted]: expected at least 16 characters without spaces (it is an admin credential)');
  }
  if (s('HERALD_DATABASE_URL') && !s('HERALD_SECRET_KEY')) {
    problems.push('HERALD_SECRET_KEY is required with HERALD_DATABASE_URL (it encrypts app credentials; every process must share it)');
  }
  // An origin is scheme://host[:port] exactly as browsers send it in `Origin` (no path, no
  // trailing slash): anything else would never match and silently allow nothing.
  const badOrigins = ((v.get('HERALD_CORS_ORIGINS') as readonly string[] | undefined) ?? []).filter((o) => o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o));
  if (badOrigins.length > 0) {
    problems.push(`HERALD_CORS_ORIGINS: expected \`*\` or origins like https://app.example.com (no path) (not: ${badOrigins.join(', ')})`);
  }
  for (const entry of (v.get('HERALD_OUTBOUND_ALLOW') as readonly string[] | undefined) ?? []) {
    try {
      parseAllowEntry(entry);
    } catch (err) {
      problems.push(`HERALD_OUTBOUND_ALLOW: ${(err as Error).message}`);
    }
  }
  const trustProxy = parseTrustProxy(s('HERALD_TRUST_PROXY'), problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    databaseUrl: s('HERALD_DATABASE_URL'),
    dataDir: s('HERALD_DATA_DIR') ?? './data',
    databasePoolSize: n('HERALD_DATABASE_POOL_SIZE'),
    port: n('HERALD_PORT'),
    host: s('HERALD_HOST') ?? '0.0.0.0',
    logLevel: s('HERALD_LOG_LEVEL') ?? 'info',
    apiKey: s('HERALD_API_KEY'),
    roles: v.get('HERALD_ROLES') as readonly RoleName[],
    secretKey: s('HERALD_SECRET_KEY'),
    secretKeysPrevious: (v.get('HERALD_SECRET_KEYS_PREVIOUS') as readonly string[] | undefined) ?? [],
    userJwtSecret: s('HERALD_USER_JWT_SECRET'),
    userJwksUrl: s('HERALD_USER_JWKS_URL'),
    userJwt: {
      maxAgeSeconds: n('HERALD_USER_JWT_MAX_AGE_SECONDS'),
      issuer: v.get('HERALD_USER_JWT_ISSUER') as readonly string[] | undefined,
      audience: v.get('HERALD_USER_JWT_AUDIENCE') as readonly string[] | undefined,
      appClaim: s('HERALD_USER_JWT_APP_CLAIM') ?? 'app',
    },
    sseMaxStreamsPerUser: n('HERALD_SSE_MAX_STREAMS_PER_USER'),
    rateLimit: {
      windowSeconds: n('HERALD_RATE_LIMIT_WINDOW_SECONDS'),
      perKey: n('HERALD_RATE_LIMIT_PER_KEY'),
      perUser: n('HERALD_RATE_LIMIT_PER_USER'),
      authFailures: n('HERALD_RATE_LIMIT_AUTH_FAILURES'),
    },
    ops: { port: v.get('HERALD_OPS_PORT') === undefined ? undefined : n('HERALD_OPS_PORT'), token: s('HERALD_OPS_TOKEN') },
    retention: { days: n('HERALD_RETENTION_DAYS'), intervalSeconds: n('HERALD_RETENTION_INTERVAL_SECONDS'), batch: n('HERALD_RETENTION_BATCH') },
    userCaps: { devices: n('HERALD_USER_MAX_DEVICES'), reminders: n('HERALD_USER_MAX_REMINDERS'), topics: n('HERALD_USER_MAX_TOPICS') },
    trustGatewayHeaders: b('HERALD_TRUST_GATEWAY_HEADERS'),
    maxBodyBytes: n('HERALD_MAX_BODY_BYTES'),
    corsOrigins: (v.get('HERALD_CORS_ORIGINS') as readonly string[] | undefined) ?? [],
    trustProxy,
    http: {
      requestTimeoutMs: n('HERALD_HTTP_REQUEST_TIMEOUT_MS'),
      headersTimeoutMs: n('HERALD_HTTP_HEADERS_TIMEOUT_MS'),
      keepAliveTimeoutMs: n('HERALD_HTTP_KEEP_ALIVE_TIMEOUT_MS'),
      maxConnections: n('HERALD_HTTP_MAX_CONNECTIONS'),
      maxRequestsPerSocket: n('HERALD_HTTP_MAX_REQUESTS_PER_SOCKET'),
      maxJsonDepth: n('HERALD_MAX_JSON_DEPTH'),
    },
    apns: {
      keyFile: s('HERALD_APNS_KEY_FILE'),
      keyId: s('HERALD_APNS_KEY_ID'),
      teamId: s('HERALD_APNS_TEAM_ID'),
      certFile: s('HERALD_APNS_CERT_FILE'),
      privateKeyFile: s('HERALD_APNS_PRIVATE_KEY_FILE'),
      passphrase: s('HERALD_APNS_PASSPHRASE'),
      bundleId: s('HERALD_APNS_BUNDLE_ID'),
      environment: (s('HERALD_APNS_ENVIRONMENT') ?? 'production') as 'production' | 'development',
      url: s('HERALD_APNS_URL'),
    },
    fcm: { serviceAccountFile: s('HERALD_FCM_SERVICE_ACCOUNT_FILE'), url: s('HERALD_FCM_URL') ?? 'https://fcm.googleapis.com' },
    webpush: {
      publicKey: s('HERALD_VAPID_PUBLIC_KEY'),
      privateKey: s('HERALD_VAPID_PRIVATE_KEY'),
      subject: s('HERALD_VAPID_SUBJECT'),
    },
    email: { smtpUrl: s('HERALD_SMTP_URL'), from: s('HERALD_EMAIL_FROM'), sesRegion: s('HERALD_SES_REGION') },
    webhook: { url: s('HERALD_WEBHOOK_URL'), secret: s('HERALD_WEBHOOK_SECRET'), timeoutMs: n('HERALD_WEBHOOK_TIMEOUT_MS') },
    outbound: { allow: (v.get('HERALD_OUTBOUND_ALLOW') as readonly string[] | undefined) ?? [] },
    worker: {
      channels: v.get('HERALD_WORKER_CHANNELS') as readonly string[] | undefined,
      batchSize: n('HERALD_WORKER_BATCH_SIZE'),
      concurrency: n('HERALD_WORKER_CONCURRENCY'),
      leaseSeconds: n('HERALD_WORKER_LEASE_SECONDS'),
    },
    events: { broker: s('HERALD_EVENTS_BROKER') as BrokerName | undefined, topic: s('HERALD_EVENTS_TOPIC') ?? 'herald-events' },
    pubsub: { project: s('HERALD_PUBSUB_PROJECT') },
    ingestApns: {
      subscription: s('HERALD_INGEST_PUBSUB_SUBSCRIPTION') ?? 'notifications-apn',
      topic: s('HERALD_INGEST_PUBSUB_TOPIC') ?? 'notifications',
      maxAgeSeconds: n('HERALD_INGEST_MAX_AGE_SECONDS'),
    },
    ingest: {
      from: s('HERALD_INGEST_FROM') as IngestSource | undefined,
      topic: s('HERALD_INGEST_TOPIC') ?? 'herald-notifications',
      subscription: s('HERALD_INGEST_SUBSCRIPTION') ?? 'herald-ingest',
    },
    brokerAutoCreate: b('HERALD_BROKER_AUTO_CREATE'),
    natsUrl: s('HERALD_NATS_URL') ?? 'nats://127.0.0.1:4222',
    dispatch: {
      mode: (s('HERALD_DISPATCH_MODE') ?? 'postgres') as 'postgres' | 'nats',
      subjectPrefix: s('HERALD_DISPATCH_SUBJECT_PREFIX') ?? 'herald.dispatch',
    },
    shutdownTimeoutMs: n('HERALD_SHUTDOWN_TIMEOUT_MS'),
    recurrence: { budgetMs: n('HERALD_RECURRENCE_BUDGET_MS'), threads: n('HERALD_RECURRENCE_THREADS') },
    audiences: { chunkSize: n('HERALD_FANOUT_CHUNK_SIZE'), publicUrl: s('HERALD_PUBLIC_URL')?.replace(/\/+$/, ''), unsubscribeLinkDays: n('HERALD_UNSUBSCRIBE_LINK_DAYS') },
  };
  return deepFreeze(config);
}

/** The variables as set, secrets replaced: what gets logged and what `herald config` prints. */
export function redactedEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of VARIABLES) {
    const raw = env[spec.name];
    if (raw === undefined || raw === '') continue;
    // URLs lose their credentials even when the variable is not secret (HERALD_WEBHOOK_URL may hold some).
    out[spec.name] = spec.secret && spec.kind.type !== 'url' ? '[redacted]' : spec.kind.type === 'url' ? urlWithoutCredentials(raw) : raw;
  }
  return out;
}

/**
 * HERALD_TRUST_PROXY: unset trusts no proxy (X-Forwarded-For is ignored, the client is the
 * socket's peer), so no client can choose the address herald sees by sending the header.
 */
function parseTrustProxy(text: string | undefined, problems: string[]): false | number | readonly string[] {
  if (text === undefined) return false;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops > 100) problems.push(`HERALD_TRUST_PROXY=${JSON.stringify(text)}: expected a hop count from 0 to 100, or addresses/CIDRs`);
    return hops === 0 ? false : hops;
  }
  const items = text.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = items.filter((item) => {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(item)) return false;
    const [address = '', prefix, extra] = item.split('/');
    const family = isIP(address);
    if (family === 0 || extra !== undefined) return true;
    return prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (family === 4 ? 32 : 128));
  });
  if (bad.length > 0) problems.push(`HERALD_TRUST_PROXY=${JSON.stringify(text)}: expected a hop count or comma-separated IP addresses/CIDRs (not valid: ${bad.join(', ')})`);
  return items;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
