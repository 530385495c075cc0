/**
 * What of the configuration may be shown: an allow-list. A field is logged only when it is named
 * here, so a new field (or one whose name does not look secret, like `secretKey`) is redacted
 * until someone decides it is safe to show, instead of leaking until someone notices. URLs are
 * shown without what can carry a credential (user, password, query, fragment).
 */
const LOGGED: Record<string, 'value' | 'url'> = {
  databaseUrl: 'url',
  dataDir: 'value',
  databasePoolSize: 'value',
  port: 'value',
  host: 'value',
  logLevel: 'value',
  roles: 'value',
  userJwksUrl: 'url',
  trustGatewayHeaders: 'value',
  maxBodyBytes: 'value',
  'apns.keyFile': 'value',
  'apns.keyId': 'value',
  'apns.teamId': 'value',
  'apns.certFile': 'value',
  'apns.privateKeyFile': 'value',
  'apns.bundleId': 'value',
  'apns.environment': 'value',
  'apns.url': 'url',
  'fcm.serviceAccountFile': 'value',
  'fcm.url': 'url',
  'webpush.publicKey': 'value',
  'webpush.subject': 'value',
  'email.smtpUrl': 'url',
  'email.from': 'value',
  'email.sesRegion': 'value',
  'webhook.url': 'url',
  'webhook.timeoutMs': 'value',
  'worker.channels': 'value',
  'worker.batchSize': 'value',
  'worker.concurrency': 'value',
  'worker.leaseSeconds': 'value',
  'events.broker': 'value',
  'events.topic': 'value',
  'pubsub.project': 'value',
  'ingestApns.subscription': 'value',
  'ingestApns.topic': 'value',
  'ingestApns.maxAgeSeconds': 'value',
  'ingest.from': 'value',
  'ingest.topic': 'value',
  'ingest.subscription': 'value',
  brokerAutoCreate: 'value',
  natsUrl: 'url',
  'dispatch.mode': 'value',
  'dispatch.subjectPrefix': 'value',
  shutdownTimeoutMs: 'value',
  'recurrence.budgetMs': 'value',
  'recurrence.threads': 'value',
  'http.requestTimeoutMs': 'value',
  'http.headersTimeoutMs': 'value',
  'http.keepAliveTimeoutMs': 'value',
  'http.maxConnections': 'value',
  'http.maxRequestsPerSocket': 'value',
  'http.maxJsonDepth': 'value',
  trustProxy: 'value',
  'userJwt.maxAgeSeconds': 'value',
  'userJwt.issuer': 'value',
  'userJwt.audience': 'value',
  'userJwt.appClaim': 'value',
  sseMaxStreamsPerUser: 'value',
  'rateLimit.windowSeconds': 'value',
  'rateLimit.perKey': 'value',
  'rateLimit.perUser': 'value',
  'rateLimit.authFailures': 'value',
  'ops.port': 'value',
  'retention.days': 'value',
  'retention.intervalSeconds': 'value',
  'retention.batch': 'value',
  'userCaps.devices': 'value',
  'userCaps.reminders': 'value',
  'userCaps.topics': 'value',
  corsOrigins: 'value',
  'outbound.allow': 'value',
};

export const REDACTED = '[redacted]';

/**
 * A URL without anything that can hold a credential: `https://user:pass@host/x?token=t` →
 * `https://host/x?[redacted]`. Text that is not a URL is not shown at all.
 */
export function urlWithoutCredentials(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return REDACTED;
  }
  const query = url.search || url.hash ? `?${REDACTED}` : '';
  return `${url.protocol}//${url.host}${url.pathname}${query}`;
}

/** The configuration with every field not on the allow-list replaced, safe to log. */
export function redactConfig(config: object): unknown {
  const walk = (value: unknown, path: string): unknown => {
    if (value === undefined || value === null) return value;
    const rule = LOGGED[path];
    if (rule === 'url') return typeof value === 'string' ? urlWithoutCredentials(value) : REDACTED;
    if (rule === 'value') return value;
    if (typeof value === 'object' && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, walk(x, path ? `${path}.${k}` : k)]));
    }
    return REDACTED;
  };
  return walk(config, '');
}
