import type { ClaimedDelivery } from '../repository.ts';

/** Subject a provider's due deliveries are published to: `<prefix>.<provider>`. */
export function dispatchSubject(prefix: string, provider: string): string {
  return `${prefix}.${provider}`;
}

/** A claimed delivery as a message body (dates as ISO strings). */
export function encodeJob(job: ClaimedDelivery): string {
  return JSON.stringify(job);
}

type Wire = Omit<ClaimedDelivery, 'dueAt' | 'expiresAt' | 'device'> & {
  dueAt: string;
  expiresAt?: string;
  device?: (NonNullable<ClaimedDelivery['device']> & { registeredAt?: string }) | undefined;
};

export function decodeJob(body: Buffer): ClaimedDelivery {
  const w = JSON.parse(body.toString('utf8')) as Wire;
  if (typeof w.id !== 'string' || typeof w.provider !== 'string' || typeof w.dueAt !== 'string') {
    throw new Error('not a delivery job');
  }
  return {
    ...w,
    dueAt: new Date(w.dueAt),
    expiresAt: w.expiresAt ? new Date(w.expiresAt) : undefined,
    device: w.device ? { ...w.device, registeredAt: w.device.registeredAt ? new Date(w.device.registeredAt) : undefined } : undefined,
  };
}
