import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/**
 * Where herald may send requests whose target someone else chose: a Web Push endpoint (an end
 * user's browser hands it over) and a webhook URL (whoever holds an API key for the app). Without
 * a policy such a URL reaches herald's own network — loopback services, the cloud metadata
 * service at 169.254.169.254, databases on private addresses — with herald's credentials and
 * network position (server-side request forgery).
 *
 * Only public unicast addresses are allowed; everything else is refused unless the operator names
 * it in HERALD_OUTBOUND_ALLOW (hosts, IP addresses or CIDRs). A URL is checked when it is
 * registered (its host as written) and again on every connection, on the address the connection
 * actually uses (see connector.ts), so a name that resolves to a private address at send time —
 * DNS rebinding — is refused as well.
 *
 * Address ranges come from ipaddr.js (the IANA special-purpose registries, kept up to date there
 * and used by Fastify's proxy-addr) rather than a hand-written list.
 */

/** Why a host or address was refused: shown to operators; `category` is stable. */
export interface Refusal {
  readonly host: string;
  readonly address?: string | undefined;
  readonly category: string;
  readonly reason: string;
}

/** One resolved address, as `dns.lookup(..., {all: true})` gives it. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: number;
}

export type Resolver = (hostname: string, family: number) => Promise<readonly ResolvedAddress[]>;

const CATEGORY_TEXT: Record<string, string> = {
  unspecified: 'the unspecified address (0.0.0.0 and :: reach this host)',
  loopback: 'a loopback address',
  private: 'a private (RFC 1918) address',
  linkLocal: 'a link-local address (cloud metadata services live at 169.254.169.254)',
  uniqueLocal: 'a unique-local IPv6 address',
  carrierGradeNat: 'a shared (carrier-grade NAT) address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved or documentation address',
};

/**
 * Host names that never name a public service: RFC 6761 `localhost`, mDNS `.local` (and with it
 * Kubernetes' `.cluster.local`), ICANN's private-use `.internal` (GCP's
 * metadata.google.internal, AWS's instance-data.ec2.internal), RFC 8375 `.home.arpa`, and the
 * common `.localdomain`. GCP also answers metadata requests at `metadata.goog`.
 */
const INTERNAL_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa', '.localdomain'];
const INTERNAL_NAMES = new Set(['localhost', 'metadata.goog']);

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The category of a non-public address, or undefined for a public unicast one. */
export function addressCategory(text: string): string | undefined {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // A zone id (fe80::1%eth0) only ever belongs to link-local addresses; drop it to classify.
    addr = ipaddr.parse(stripBrackets(text).replace(/%.*$/, ''));
  } catch {
    return 'reserved';
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  const range = addr.range();
  if (addr.kind() === 'ipv4') return range === 'unicast' ? undefined : range;
  if (range !== 'unicast') {
    // NAT64, 6to4, Teredo and friends embed IPv4 addresses a gateway would reach on our behalf.
    return CATEGORY_TEXT[range] ? range : 'reserved';
  }
  // Global unicast is 2000::/3; the rest of "unicast" is unassigned (or the deprecated
  // IPv4-compatible ::a.b.c.d form).
  return addr.match(ipaddr.parseCIDR('2000::/3')) ? undefined : 'reserved';
}

export function describeCategory(category: string): string {
  return CATEGORY_TEXT[category] ?? `a ${category} address`;
}

/** A checked HERALD_OUTBOUND_ALLOW entry. */
type AllowEntry = { readonly kind: 'host'; readonly host: string } | { readonly kind: 'cidr'; readonly range: [ipaddr.IPv4 | ipaddr.IPv6, number] };

/** Parse one HERALD_OUTBOUND_ALLOW entry; throws with a message naming what is expected. */
export function parseAllowEntry(entry: string): AllowEntry {
  const text = stripBrackets(entry.trim().toLowerCase());
  if (text.includes('/')) {
    if (!ipaddr.isValidCIDR(text)) throw new Error(`"${entry}" is not a CIDR range (e.g. 10.1.0.0/16 or fd00::/8)`);
    return { kind: 'cidr', range: ipaddr.parseCIDR(text) };
  }
  if (ipaddr.isValid(text)) {
    const ip = ipaddr.parse(text);
    return { kind: 'cidr', range: [ip, ip.kind() === 'ipv4' ? 32 : 128] };
  }
  if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/.test(text)) {
    throw new Error(`"${entry}" is neither a host name, an IP address nor a CIDR range`);
  }
  return { kind: 'host', host: text.replace(/\.$/, '') };
}

export interface OutboundPolicyOptions {
  /** Name resolution for connections; default the system resolver (dns.lookup, honours /etc/hosts). */
  readonly resolve?: Resolver | undefined;
}

const systemResolver: Resolver = (hostname, family) => dnsLookup(hostname, { all: true, family, verbatim: true });

export class OutboundPolicy {
  readonly #hosts = new Set<string>();
  readonly #ranges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];
  readonly #resolve: Resolver;

  /** `allow`: HERALD_OUTBOUND_ALLOW entries (already validated by the config loader). */
  constructor(allow: readonly string[] = [], options: OutboundPolicyOptions = {}) {
    for (const entry of allow) {
      const parsed = parseAllowEntry(entry);
      if (parsed.kind === 'host') this.#hosts.add(parsed.host);
      else this.#ranges.push(parsed.range);
    }
    this.#resolve = options.resolve ?? systemResolver;
  }

  /** Check a URL's host as written (at registration, and before each send). */
  checkUrl(url: string | URL): Refusal | undefined {
    let host: string;
    try {
      host = (typeof url === 'string' ? new URL(url) : url).hostname;
    } catch {
      return { host: String(url), category: 'invalid', reason: 'is not a URL' };
    }
    return this.checkHost(host);
  }

  /**
   * Check a host as written: an IP literal by its range, a name by the names that are internal
   * by definition. The WHATWG URL parser has already turned 2130706433, 0x7f.1 and friends into
   * dotted quads, so they are caught here too.
   */
  checkHost(rawHost: string): Refusal | undefined {
    const host = stripBrackets(rawHost.toLowerCase()).replace(/\.$/, '');
    if (this.#hosts.has(host)) return undefined;
    if (ipaddr.isValid(host.replace(/%.*$/, ''))) return this.checkAddress(host, host);
    if (INTERNAL_NAMES.has(host) || INTERNAL_SUFFIXES.some((s) => host.endsWith(s))) {
      return { host, category: 'internal-name', reason: `${host} is an internal host name` };
    }
    // A name without a dot is resolved through the search domains (Kubernetes services, "redis").
    if (!host.includes('.')) return { host, category: 'internal-name', reason: `${host} is not a fully qualified public host name` };
    return undefined;
  }

  /** Check an address a connection is about to use (`host` is what was asked for). */
  checkAddress(address: string, host: string): Refusal | undefined {
    const category = addressCategory(address);
    if (!category) return undefined;
    if (this.#hosts.has(host) || this.#inAllowedRange(address)) return undefined;
    const named = address === host ? address : `${host} resolves to ${address}, which`;
    return { host, address, category, reason: `${named} is ${describeCategory(category)}` };
  }

  #inAllowedRange(address: string): boolean {
    if (this.#ranges.length === 0) return false;
    let ip: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      ip = ipaddr.process(stripBrackets(address).replace(/%.*$/, ''));
    } catch {
      return false;
    }
    return this.#ranges.some((range) => ip.kind() === range[0].kind() && ip.match(range));
  }

  /**
   * Resolve a host for a connection and refuse it when any of its addresses is not allowed
   * (rather than quietly using the others: a public name that also resolves to a private address
   * is the rebinding trick itself).
   */
  async resolve(hostname: string, family = 0): Promise<ResolvedAddress[]> {
    const host = stripBrackets(hostname.toLowerCase()).replace(/\.$/, '');
    const refusedName = this.checkHost(host);
    if (refusedName) throw new OutboundRefusedError(refusedName);
    const addresses = await this.#resolve(host, family);
    for (const a of addresses) {
      const refused = this.checkAddress(a.address, host);
      if (refused) throw new OutboundRefusedError(refused);
    }
    return [...addresses];
  }
}

/** A connection the outbound policy refused; channels turn it into a `failed` verdict. */
export class OutboundRefusedError extends Error {
  readonly code = 'ENDPOINT_NOT_ALLOWED';
  readonly refusal: Refusal;
  constructor(refusal: Refusal) {
    super(`${refusal.reason}; herald does not connect there unless HERALD_OUTBOUND_ALLOW names it`);
    this.name = 'OutboundRefusedError';
    this.refusal = refusal;
  }
}

/** The refusal behind an error from a request, if the policy caused it (undici may wrap it). */
export function outboundRefusal(err: unknown): Refusal | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (e instanceof OutboundRefusedError) return e.refusal;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
