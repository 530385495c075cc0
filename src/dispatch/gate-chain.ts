import type { DeliveryGate } from './cap-step.ts';
import type { ClaimedDelivery, Outcome } from './repository.ts';

/**
 * The steps a delivery passes before its send, in order (docs/timing.md: a digest collects first,
 * then the frequency cap decides): the first that records an outcome ends the delivery's turn.
 */
export function gateChain(...gates: readonly DeliveryGate[]): DeliveryGate {
  return {
    async check(job: ClaimedDelivery): Promise<Outcome | undefined> {
      for (const gate of gates) {
        const outcome = await gate.check(job);
        if (outcome) return outcome;
      }
      return undefined;
    },
  };
}
