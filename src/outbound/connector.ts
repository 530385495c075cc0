import type { LookupAddress, LookupOneOptions } from 'node:dns';
import { Agent, buildConnector } from 'undici';
import { OutboundPolicy, OutboundRefusedError } from './policy.ts';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net.connect / tls.connect that resolves through the policy: the addresses it
 * hands back are the ones the socket connects to, so there is no gap between the check and the
 * connection for a rebinding DNS server to slip through.
 */
export function guardedLookup(policy: OutboundPolicy) {
  return (hostname: string, options: LookupOneOptions & { all?: boolean }, callback: LookupCallback): void => {
    const family = typeof options.family === 'number' ? options.family : 0;
    policy.resolve(hostname, family).then(
      (addresses) => {
        const first = addresses[0];
        if (!first) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          err.code = 'ENOTFOUND';
          callback(err, []);
        } else if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, []),
    );
  };
}

export interface OutboundAgentOptions extends Omit<Agent.Options, 'connect' | 'connectTimeout'> {
  /** Extra trusted CA (PEM), for tests against a fake provider over TLS. */
  readonly ca?: string | Buffer | undefined;
  /** TCP + TLS connect timeout; undici's default 10 s. */
  readonly connectTimeoutMs?: number | undefined;
}

/**
 * An undici Agent whose every connection passes the policy: IP literals are checked by the
 * connector (net.connect skips `lookup` for them), names by the guarded lookup. Redirects are
 * never followed by `request()` (undici's default), so a 3xx cannot lead elsewhere either.
 */
export function outboundAgent(policy: OutboundPolicy, options: OutboundAgentOptions = {}): Agent {
  const { ca, connectTimeoutMs, ...agentOptions } = options;
  const base = buildConnector({
    ...(ca ? { ca } : {}),
    // Node's own lookup signature is overloaded; ours implements the (hostname, options, cb) form net uses.
    lookup: guardedLookup(policy) as unknown as NonNullable<import('node:net').TcpNetConnectOpts['lookup']>,
    ...(connectTimeoutMs !== undefined ? { timeout: connectTimeoutMs } : {}),
  });
  const connect: buildConnector.connector = (opts, callback) => {
    const refused = policy.checkHost(opts.hostname);
    if (refused) return callback(new OutboundRefusedError(refused), null);
    base(opts, callback);
  };
  return new Agent({ ...agentOptions, connect });
}
