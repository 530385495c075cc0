/**
 * Every environment variable herald reads, declared once. The loader, the redacted copy that is
 * logged and the configuration table in docs/configuration.md all come from this list (a test
 * checks the docs name every variable here).
 */
export type VarKind =
  | { type: 'string' }
  | { type: 'url'; protocols: readonly string[] }
  | { type: 'int'; min: number; max: number }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'list'; values?: readonly string[] };

export interface VarSpec {
  readonly name: string;
  readonly kind: VarKind;
  readonly default?: string;
  /** Shown as `[redacted]` in logs and `herald config`. */
  readonly secret?: boolean;
  readonly description: string;
}

export const ROLE_NAMES = ['api', 'scheduler', 'worker', 'relay', 'ingest', 'ingest-apns'] as const;
export const BROKER_NAMES = ['pubsub', 'sns', 'nats'] as const;
export const INGEST_SOURCES = ['pubsub', 'sqs', 'nats'] as const;

export const VARIABLES: readonly VarSpec[] = [
  { name: 'HERALD_DATABASE_URL', kind: { type: 'url', protocols: ['postgres:', 'postgresql:'] }, secret: true, description: 'PostgreSQL connection string; unset = embedded PostgreSQL in HERALD_DATA_DIR' },
  { name: 'HERALD_DATA_DIR', kind: { type: 'string' }, default: './data', description: "embedded PostgreSQL's data directory (also holds generated keys)" },
  { name: 'HERALD_DATABASE_POOL_SIZE', kind: { type: 'int', min: 1, max: 500 }, default: '10', description: 'connections in the pool of each process' },
  { name: 'HERALD_PORT', kind: { type: 'int', min: 0, max: 65535 }, default: '3000', description: 'HTTP listen port' },
  { name: 'HERALD_OPS_PORT', kind: { type: 'int', min: 1, max: 65535 }, description: 'the API serves /metrics, /openapi.json and /docs on this port (with /healthz and /readyz) instead of HERALD_PORT; unset: on HERALD_PORT' },
  { name: 'HERALD_OPS_TOKEN', kind: { type: 'string' }, secret: true, description: '/metrics, /openapi.json and /docs answer only `Authorization: Bearer <this token>` (on whichever port serves them); unset: no token' },
  { name: 'HERALD_HOST', kind: { type: 'string' }, default: '0.0.0.0', description: 'HTTP listen address' },
  { name: 'HERALD_LOG_LEVEL', kind: { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, default: 'info', description: 'log level' },
  { name: 'HERALD_API_KEY', kind: { type: 'string' }, secret: true, description: 'an admin API key created at start-up if absent (stored hashed)' },
  { name: 'HERALD_ROLES', kind: { type: 'list', values: ROLE_NAMES }, default: 'api,scheduler,worker,relay,ingest,ingest-apns', description: 'roles `herald start` runs (relay/ingest/ingest-apns only when configured)' },
  { name: 'HERALD_SECRET_KEY', kind: { type: 'string' }, secret: true, description: 'key that encrypts app credentials at rest (32 bytes, base64 or hex, or any passphrase); generated into the data dir on the embedded default, required with an external database' },
  { name: 'HERALD_SECRET_KEYS_PREVIOUS', kind: { type: 'list' }, secret: true, description: 'earlier values of HERALD_SECRET_KEY (comma-separated): what they sealed stays readable, new values are sealed with HERALD_SECRET_KEY (key rotation)' },
  { name: 'HERALD_USER_JWT_SECRET', kind: { type: 'string' }, secret: true, description: "HS256 secret that verifies end users' JWTs" },
  { name: 'HERALD_USER_JWKS_URL', kind: { type: 'url', protocols: ['http:', 'https:'] }, description: "JWKS URL that verifies end users' RS256/ES256 JWTs" },
  { name: 'HERALD_USER_JWT_MAX_AGE_SECONDS', kind: { type: 'int', min: 60, max: 31536000 }, default: '86400', description: "longest lifetime accepted for an end user's JWT: tokens whose exp − iat or exp − now is longer are refused (exp is required)" },
  { name: 'HERALD_USER_JWT_ISSUER', kind: { type: 'list' }, description: "accepted `iss` of end users' JWTs (comma-separated); unset: not checked" },
  { name: 'HERALD_USER_JWT_AUDIENCE', kind: { type: 'list' }, description: "accepted `aud` of end users' JWTs (comma-separated; the token must name one); unset: not checked" },
  { name: 'HERALD_USER_JWT_APP_CLAIM', kind: { type: 'string' }, default: 'app', description: "JWT claim naming the app a user token is for; a token without it may use the `default` app only" },
  { name: 'HERALD_SSE_MAX_STREAMS_PER_USER', kind: { type: 'int', min: 1, max: 1000 }, default: '5', description: 'open inbox streams one user may hold on one API process; the next is 429 RATE_LIMITED' },
  { name: 'HERALD_RATE_LIMIT_WINDOW_SECONDS', kind: { type: 'int', min: 1, max: 86400 }, default: '60', description: 'length of the rate-limit windows (fixed windows on the database clock, shared by every API process)' },
  { name: 'HERALD_RATE_LIMIT_PER_KEY', kind: { type: 'int', min: 0, max: 100000000 }, default: '6000', description: 'requests one API key may make per window; more are 429 RATE_LIMITED with Retry-After (0: no limit)' },
  { name: 'HERALD_RATE_LIMIT_PER_USER', kind: { type: 'int', min: 0, max: 100000000 }, default: '600', description: 'requests one end user (user token or gateway user) may make per window (0: no limit)' },
  { name: 'HERALD_RATE_LIMIT_AUTH_FAILURES', kind: { type: 'int', min: 0, max: 100000000 }, default: '100', description: 'failed authentications (credentials sent that do not verify) one client address may make per window; then every request from it is 429 until the window ends (0: no limit). Behind a proxy set HERALD_TRUST_PROXY, or all clients share the proxy address' },
  { name: 'HERALD_USER_MAX_DEVICES', kind: { type: 'int', min: 0, max: 1000000 }, default: '100', description: 'devices one user may have registered (0: no limit); one more is 422 USER_LIMIT_REACHED' },
  { name: 'HERALD_USER_MAX_REMINDERS', kind: { type: 'int', min: 0, max: 10000000 }, default: '10000', description: 'reminders one user may have (0: no limit); one more is 422 USER_LIMIT_REACHED' },
  { name: 'HERALD_USER_MAX_TOPICS', kind: { type: 'int', min: 0, max: 10000000 }, default: '1000', description: 'topics one user may be subscribed to (0: no limit); one more is 422 USER_LIMIT_REACHED' },
  { name: 'HERALD_RETENTION_DAYS', kind: { type: 'int', min: 0, max: 36500 }, default: '90', description: 'finished notifications (with their deliveries), inbox items and events older than this many days are purged by the scheduler; an app may set its own `retentionDays` (0: keep for ever)' },
  { name: 'HERALD_RETENTION_INTERVAL_SECONDS', kind: { type: 'int', min: 1, max: 604800 }, default: '3600', description: 'how often the retention pass runs (one scheduler at a time, due time kept in the database)' },
  { name: 'HERALD_RETENTION_BATCH', kind: { type: 'int', min: 1, max: 100000 }, default: '500', description: 'rows the retention pass deletes per statement' },
  { name: 'HERALD_TRUST_GATEWAY_HEADERS', kind: { type: 'bool' }, default: 'false', description: 'accept `x-authenticated-userid` / `x-consumer-username` from an API gateway' },
  { name: 'HERALD_CORS_ORIGINS', kind: { type: 'list' }, description: 'origins (`https://app.example.com`, or `*` for any) whose pages may call `/v1/me/...` from the browser, e.g. to embed `<herald-inbox>`; unset = none' },
  { name: 'HERALD_MAX_BODY_BYTES', kind: { type: 'int', min: 1024, max: 104857600 }, default: '1048576', description: 'largest accepted request body' },
  { name: 'HERALD_MAX_JSON_DEPTH', kind: { type: 'int', min: 2, max: 1000 }, default: '64', description: 'deepest nesting of objects and arrays accepted in a JSON body (deeper: 400)' },
  { name: 'HERALD_HTTP_REQUEST_TIMEOUT_MS', kind: { type: 'int', min: 100, max: 3600000 }, default: '30000', description: 'a request (headers and body) must arrive within this; slower clients get 408 and are disconnected' },
  { name: 'HERALD_HTTP_HEADERS_TIMEOUT_MS', kind: { type: 'int', min: 100, max: 3600000 }, default: '10000', description: 'request headers must arrive within this (at most HERALD_HTTP_REQUEST_TIMEOUT_MS)' },
  { name: 'HERALD_HTTP_KEEP_ALIVE_TIMEOUT_MS', kind: { type: 'int', min: 100, max: 3600000 }, default: '72000', description: 'an idle keep-alive connection is closed after this (keep it above a load balancer’s idle timeout)' },
  { name: 'HERALD_HTTP_MAX_CONNECTIONS', kind: { type: 'int', min: 1, max: 1000000 }, default: '10000', description: 'HTTP connections open at once per process; more are refused' },
  { name: 'HERALD_HTTP_MAX_REQUESTS_PER_SOCKET', kind: { type: 'int', min: 0, max: 1000000 }, default: '0', description: 'requests served on one keep-alive connection before it is closed (0: no limit)' },
  { name: 'HERALD_TRUST_PROXY', kind: { type: 'string' }, description: 'proxies whose X-Forwarded-For is believed: a hop count (e.g. 1) or comma-separated addresses/CIDRs (e.g. 10.0.0.0/8,127.0.0.1); unset: none, the client is the socket peer' },
  { name: 'HERALD_APNS_KEY_FILE', kind: { type: 'string' }, description: 'APNs token auth: path of the .p8 key (default app)' },
  { name: 'HERALD_APNS_KEY_ID', kind: { type: 'string' }, description: 'APNs token auth: key id' },
  { name: 'HERALD_APNS_TEAM_ID', kind: { type: 'string' }, description: 'APNs token auth: team id' },
  { name: 'HERALD_APNS_CERT_FILE', kind: { type: 'string' }, description: 'APNs certificate auth: PEM certificate (or PKCS#12 file)' },
  { name: 'HERALD_APNS_PRIVATE_KEY_FILE', kind: { type: 'string' }, description: 'APNs certificate auth: PEM private key' },
  { name: 'HERALD_APNS_PASSPHRASE', kind: { type: 'string' }, secret: true, description: 'passphrase of the APNs key or PKCS#12 file' },
  { name: 'HERALD_APNS_BUNDLE_ID', kind: { type: 'string' }, description: 'APNs topic (bundle id) of the default app' },
  { name: 'HERALD_APNS_ENVIRONMENT', kind: { type: 'enum', values: ['production', 'development'] }, default: 'production', description: 'APNs environment' },
  { name: 'HERALD_APNS_URL', kind: { type: 'url', protocols: ['https:'] }, description: "APNs origin for every app that sets no `apns.url` of its own (an egress proxy, a fake); default Apple's host for the environment" },
  { name: 'HERALD_FCM_SERVICE_ACCOUNT_FILE', kind: { type: 'string' }, description: "FCM service-account JSON (its token_uri is honoured)" },
  { name: 'HERALD_FCM_URL', kind: { type: 'url', protocols: ['https:', 'http:'] }, default: 'https://fcm.googleapis.com', description: 'FCM API origin for every app that sets no `fcm.url` of its own (an egress proxy, a fake)' },
  { name: 'HERALD_VAPID_PUBLIC_KEY', kind: { type: 'string' }, description: 'Web Push VAPID public key (generated and kept on the embedded default)' },
  { name: 'HERALD_VAPID_PRIVATE_KEY', kind: { type: 'string' }, secret: true, description: 'Web Push VAPID private key' },
  { name: 'HERALD_VAPID_SUBJECT', kind: { type: 'string' }, description: 'Web Push VAPID subject (mailto: or https: URL)' },
  { name: 'HERALD_SMTP_URL', kind: { type: 'url', protocols: ['smtp:', 'smtps:'] }, secret: true, description: 'e-mail over SMTP, e.g. smtp://user:pass@host:587' },
  { name: 'HERALD_EMAIL_FROM', kind: { type: 'string' }, description: 'sender address of e-mails' },
  { name: 'HERALD_SES_REGION', kind: { type: 'string' }, description: 'send e-mail through AWS SES v2 in this region (standard AWS credentials)' },
  { name: 'HERALD_WEBHOOK_URL', kind: { type: 'url', protocols: ['http:', 'https:'] }, description: 'webhook channel target of the default app' },
  { name: 'HERALD_WEBHOOK_SECRET', kind: { type: 'string' }, secret: true, description: 'HMAC-SHA256 secret that signs webhook requests' },
  { name: 'HERALD_WEBHOOK_TIMEOUT_MS', kind: { type: 'int', min: 100, max: 300000 }, default: '10000', description: 'webhook request timeout' },
  { name: 'HERALD_OUTBOUND_ALLOW', kind: { type: 'list' }, description: 'hosts, IP addresses or CIDR ranges that webhook URLs and Web Push endpoints may reach although they are loopback, private, link-local or internal (e.g. `hooks.internal.example,10.1.0.0/16`); everything else non-public is refused' },
  { name: 'HERALD_WORKER_CHANNELS', kind: { type: 'list' }, description: 'channels a worker sends (default: all configured)' },
  { name: 'HERALD_WORKER_BATCH_SIZE', kind: { type: 'int', min: 1, max: 5000 }, default: '500', description: 'deliveries claimed per batch' },
  { name: 'HERALD_WORKER_CONCURRENCY', kind: { type: 'int', min: 1, max: 100000 }, default: '1000', description: 'deliveries in flight per worker process' },
  { name: 'HERALD_WORKER_LEASE_SECONDS', kind: { type: 'int', min: 5, max: 3600 }, default: '30', description: 'lease on claimed deliveries; a dead worker’s rows are claimed again after it' },
  { name: 'HERALD_EVENTS_BROKER', kind: { type: 'enum', values: BROKER_NAMES }, description: 'where the relay publishes events: pubsub, sns or nats (unset: events stay in PostgreSQL)' },
  { name: 'HERALD_EVENTS_TOPIC', kind: { type: 'string' }, default: 'herald-events', description: 'topic / SNS topic ARN / subject for events' },
  { name: 'HERALD_PUBSUB_PROJECT', kind: { type: 'string' }, description: 'Google Cloud project (with PUBSUB_EMULATOR_HOST for the emulator)' },
  { name: 'HERALD_INGEST_PUBSUB_SUBSCRIPTION', kind: { type: 'string' }, default: 'notifications-apn', description: 'ingest-apns: Pub/Sub subscription, as the old APNs worker named it' },
  { name: 'HERALD_INGEST_PUBSUB_TOPIC', kind: { type: 'string' }, default: 'notifications', description: 'ingest-apns: Pub/Sub topic, as the old APNs worker named it' },
  { name: 'HERALD_INGEST_MAX_AGE_SECONDS', kind: { type: 'int', min: 1, max: 604800 }, default: '600', description: 'drop ingested messages older than this (by publish time)' },
  { name: 'HERALD_INGEST_FROM', kind: { type: 'enum', values: INGEST_SOURCES }, description: 'broker whose messages are POST /v1/notifications bodies (`herald ingest`)' },
  { name: 'HERALD_INGEST_TOPIC', kind: { type: 'string' }, default: 'herald-notifications', description: 'ingest input: Pub/Sub topic or JetStream subject' },
  { name: 'HERALD_INGEST_SUBSCRIPTION', kind: { type: 'string' }, default: 'herald-ingest', description: 'ingest input: Pub/Sub subscription, SQS queue URL or JetStream durable consumer' },
  { name: 'HERALD_BROKER_AUTO_CREATE', kind: { type: 'bool' }, default: 'true', description: 'create missing topics, subscriptions, queues and streams' },
  { name: 'HERALD_DISPATCH_MODE', kind: { type: 'enum', values: ['postgres', 'nats'] }, default: 'postgres', description: 'postgres: workers claim due deliveries from PostgreSQL; nats: the scheduler publishes them to JetStream subjects and workers consume those (scale-out mode)' },
  { name: 'HERALD_DISPATCH_SUBJECT_PREFIX', kind: { type: 'string' }, default: 'herald.dispatch', description: 'JetStream subject prefix of dispatched deliveries (`<prefix>.<provider>`)' },
  { name: 'HERALD_NATS_URL', kind: { type: 'url', protocols: ['nats:', 'tls:'] }, default: 'nats://127.0.0.1:4222', description: 'NATS server' },
  { name: 'HERALD_RECURRENCE_BUDGET_MS', kind: { type: 'int', min: 10, max: 60000 }, default: '1000', description: 'time one recurrence evaluation may take on its worker thread before the thread is terminated and the rule refused (valid rules take a few milliseconds)' },
  { name: 'HERALD_RECURRENCE_THREADS', kind: { type: 'int', min: 1, max: 64 }, default: '2', description: 'worker threads that evaluate recurrence rules, per process' },
  { name: 'HERALD_FANOUT_CHUNK_SIZE', kind: { type: 'int', min: 1, max: 100000 }, default: '5000', description: 'recipients a broadcast fans out per transaction (the cursor moves once per chunk; a crash repeats at most one uncommitted chunk)' },
  { name: 'HERALD_PUBLIC_URL', kind: { type: 'url', protocols: ['http:', 'https:'] }, description: "herald's public origin as recipients reach it (e.g. https://notify.example.com): e-mails of non-required notification types carry a one-click unsubscribe link under it (RFC 8058); unset: no such link" },
  { name: 'HERALD_UNSUBSCRIBE_LINK_DAYS', kind: { type: 'int', min: 1, max: 3650 }, default: '60', description: 'how long a one-click unsubscribe link stays valid after its e-mail is sent' },
  { name: 'HERALD_SHUTDOWN_TIMEOUT_MS', kind: { type: 'int', min: 0, max: 600000 }, default: '25000', description: 'how long graceful shutdown waits for in-flight work' },
];
