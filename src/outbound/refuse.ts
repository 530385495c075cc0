import { HeraldError } from '../errors/index.ts';
import type { OutboundPolicy } from './policy.ts';

/**
 * The API side of the policy: a URL given in a request is refused with 422 ENDPOINT_NOT_ALLOWED
 * naming the field. Only the host as written is judged here (no DNS lookup on the request path:
 * it would be slow, fail open or closed on resolver hiccups, and prove nothing about send time);
 * the resolved address is checked on every connection.
 */
export function refuseUnlessAllowed(policy: OutboundPolicy, url: string, field: string): void {
  const refused = policy.checkUrl(url);
  if (!refused) return;
  const message = `${refused.reason}; herald does not send there unless the operator allows it (HERALD_OUTBOUND_ALLOW)`;
  throw new HeraldError('ENDPOINT_NOT_ALLOWED', `${field}: ${message}`, [{ field, message, category: refused.category }]);
}
