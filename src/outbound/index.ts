/**
 * The outbound URL policy (core layer): which hosts herald may connect to for URLs that others
 * chose (Web Push endpoints, webhook URLs), checked at registration and on every connection.
 */
export { OutboundPolicy, OutboundRefusedError, outboundRefusal, addressCategory, describeCategory, parseAllowEntry, type Refusal, type Resolver, type ResolvedAddress, type OutboundPolicyOptions } from './policy.ts';
export { outboundAgent, guardedLookup, type OutboundAgentOptions } from './connector.ts';
export { refuseUnlessAllowed } from './refuse.ts';
