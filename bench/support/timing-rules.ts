// The timing rules the timing benchmark configures through the API (docs/timing.md), chosen to
// be evaluated for every delivery without deferring any: each user's quiet hours end an hour
// before the current hour in their zone and begin three hours after it, the notification type's
// cap is far above what one user receives in a run, and a local time names the moment the
// notification is due in each recipient's zone. Without rules the same users exist (no zone, no
// quiet hours) and the notifications carry a type without a cap and an absolute sendAt.
import type { TestHarness } from '../../test/helpers/app.ts';

/** Five zones around the globe, so quiet hours are evaluated on both sides of UTC midnight. */
const ZONES = ['America/Los_Angeles', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney'];
export const TYPE_KEY = 'bench';
const CAP = { max: 100_000, per: '1h', action: 'defer' };

export interface RuleSet {
  readonly users: number;
  readonly on: boolean;
  /** The rules the API accepted (a rule it refused is left out, and said so by describe()). */
  readonly applied: ReadonlySet<string>;
  readonly refused: ReadonlyMap<string, string>;
  describe(): string;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The hour now in `zone`. */
function hourIn(zone: string, at = new Date()): number {
  return Number(new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', hourCycle: 'h23' }).format(at));
}

export const userId = (i: number) => `tu${i}`;

async function put(h: TestHarness, url: string, payload: Record<string, unknown>): Promise<string | undefined> {
  const res = await h.request({ method: 'PUT', url, payload });
  return res.statusCode < 300 ? undefined : `${res.statusCode} ${res.body.slice(0, 200)}`;
}

export const zoneOf = (i: number) => ZONES[i % ZONES.length]!;

/** The users (and with `devices`, an iOS device each), with the rules when `on`. */
export async function configureRules(h: TestHarness, users: number, on: boolean, devices = false): Promise<RuleSet> {
  const applied = new Set<string>();
  const refused = new Map<string, string>();
  const attempt = async (rule: string, call: () => Promise<string | undefined>) => {
    const problem = await call();
    if (problem) refused.set(rule, problem);
    else applied.add(rule);
  };
  const type: Record<string, unknown> = { name: 'Benchmark' };
  if (on) {
    await attempt('app default zone and quiet hours', () => put(h, '/v1/apps/default', { name: 'Default', defaultTimezone: 'UTC', quietHours: quietAround('UTC') }));
    await attempt('cap', () => put(h, `/v1/apps/default/notification-types/${TYPE_KEY}`, { ...type, cap: CAP }));
  }
  if (!applied.has('cap')) {
    const problem = await put(h, `/v1/apps/default/notification-types/${TYPE_KEY}`, type);
    if (problem) throw new Error(`notification type: ${problem}`);
  }
  for (let i = 0; i < users; i++) {
    if (devices) {
      const res = await h.request({ method: 'POST', url: `/v1/users/${userId(i)}/devices`, payload: { platform: 'ios', token: (i + 1).toString(16).padStart(64, 'a') } });
      if (res.statusCode >= 300) throw new Error(`device: ${res.statusCode} ${res.body}`);
    }
    const zone = zoneOf(i);
    const body: Record<string, unknown> = { email: `${userId(i)}@bench.example` };
    if (on) {
      const withRules = { ...body, timezone: zone, quietHours: quietAround(zone) };
      const problem = await put(h, `/v1/users/${userId(i)}`, withRules);
      if (!problem) {
        applied.add('user zones and quiet hours');
        continue;
      }
      refused.set('user quiet hours', problem);
      const zoneOnly = await put(h, `/v1/users/${userId(i)}`, { ...body, timezone: zone });
      if (!zoneOnly) {
        applied.add('user zones');
        continue;
      }
    }
    const problem = await put(h, `/v1/users/${userId(i)}`, body);
    if (problem) throw new Error(`user: ${problem}`);
  }
  return {
    users,
    on,
    applied,
    refused,
    describe() {
      if (!on) return 'no rules';
      const no = [...refused].map(([rule, why]) => `${rule} refused (${why})`);
      return [...applied, ...no].join('; ');
    },
  };
}

/** Quiet hours that hold now's hour outside them: from three hours ahead to one hour back. */
function quietAround(zone: string): { start: string; end: string } {
  const hour = hourIn(zone);
  return { start: `${pad((hour + 3) % 24)}:00`, end: `${pad((hour + 23) % 24)}:00` };
}

const wallClocks = new Map(ZONES.map((z) => [z, new Intl.DateTimeFormat('sv-SE', { timeZone: z, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })]));

/** `at` as a wall-clock time in `zone`, "YYYY-MM-DDTHH:MM:SS" (what sendAt.localTime takes). */
function localTimeIn(zone: string, at: Date): string {
  return wallClocks.get(zone)!.format(at).replace(' ', 'T');
}

export interface ItemOptions {
  readonly channels?: readonly string[];
  /** With rules on, send as `sendAt: {localTime}` in the recipient's zone (whole seconds). */
  readonly localTime?: boolean;
}

/** The i-th notification of a run: to one of the users, of the benchmark type, as a webhook, due at `due`. */
export function notificationItem(rules: RuleSet, i: number, due: Date, options: ItemOptions = {}): Record<string, unknown> {
  const u = i % rules.users;
  const sendAt = options.localTime && rules.on ? { localTime: localTimeIn(zoneOf(u), due) } : due.toISOString();
  return { to: { userId: userId(u) }, type: TYPE_KEY, channels: options.channels ?? ['webhook'], title: `n${i}`, sendAt };
}
