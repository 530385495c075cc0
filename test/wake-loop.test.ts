import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WakeLoop, type Next } from '../src/db/wake-loop.ts';
import type { Pool } from '../src/db/pool.ts';
import { createLogger } from '../src/log/index.ts';
import { createTestDatabase } from './helpers/db.ts';

const log = createLogger('silent');
const noPool = {} as Pool;

/** A loop whose rounds are recorded (as ms since start) and answered by `plan`. */
function recorder(plan: (n: number) => Next | Promise<Next>, extra: Partial<ConstructorParameters<typeof WakeLoop>[0]> = {}) {
  const rounds: number[] = [];
  const t0 = Date.now();
  const loop = new WakeLoop({
    pool: noPool,
    log,
    maxSleepMs: 10_000,
    errorMessage: 'round failed',
    round: async () => {
      rounds.push(Date.now() - t0);
      return plan(rounds.length);
    },
    ...extra,
  });
  return { loop, rounds };
}

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('a round that did a full batch runs the next one at once; an idle one sleeps until its time', async () => {
  const { loop, rounds } = recorder((n) => (n < 3 ? 'again' : { until: Date.now() + 60_000 }));
  await loop.start();
  await until('three rounds', () => rounds.length === 3);
  await sleep(100);
  assert.equal(rounds.length, 3, 'the third round asked to sleep a minute');
  await loop.stop();
});

test('a poke ends a sleep at once; a poke during a round skips the sleep after it', async () => {
  let pokeDuring = false;
  const { loop, rounds } = recorder(() => {
    if (pokeDuring) {
      pokeDuring = false;
      loop.poke(); // as a NOTIFY arriving between the round's query and its sleep
    }
    return { until: Date.now() + 60_000 };
  });
  await loop.start();
  await until('the first round', () => rounds.length === 1);
  loop.poke();
  await until('a round after the poke', () => rounds.length === 2);
  pokeDuring = true;
  loop.poke();
  await until('the round that was poked while running, and the one after it', () => rounds.length === 4);
  await sleep(50);
  assert.equal(rounds.length, 4);
  await loop.stop();
});

test('wakeAt arms a timer that outlives rounds; the earliest time wins', async () => {
  const { loop, rounds } = recorder(() => ({ until: Date.now() + 60_000 }));
  await loop.start();
  await until('the first round', () => rounds.length === 1);
  const t = Date.now();
  loop.wakeAt(t + 400);
  loop.wakeAt(t + 80);
  loop.wakeAt(t + 300); // later than the armed one: ignored
  await until('the timer round', () => rounds.length === 2);
  const woke = Date.now() - t;
  assert.ok(woke >= 70, `woke after ${woke} ms, before its time`);
  await sleep(500);
  assert.equal(rounds.length, 2, 'the later times were replaced by the earlier one');
  await loop.stop();
});

test('a round asking to sleep longer than maxSleepMs is woken by the safety net', async () => {
  const { loop, rounds } = recorder(() => ({ until: Date.now() + 60_000 }), { maxSleepMs: 50 });
  await loop.start();
  await until('rounds on the safety-net interval', () => rounds.length >= 3);
  await loop.stop();
});

test('a deaf sleep (backing off) ignores pokes but not stop', async () => {
  const { loop, rounds } = recorder(() => ({ until: Date.now() + 60_000, deaf: true }));
  await loop.start();
  await until('the first round', () => rounds.length === 1);
  loop.poke();
  loop.poke();
  await sleep(100);
  assert.equal(rounds.length, 1, 'pokes woke a loop that is backing off');
  const t = Date.now();
  await loop.stop();
  assert.ok(Date.now() - t < 30_000, 'stop waited for the back-off (60 s)');
});

test('a failing round is logged and retried after errorDelayMs, not in a hot loop', async () => {
  const { loop, rounds } = recorder((n) => {
    if (n === 1) throw new Error('database down');
    return { until: Date.now() + 60_000 };
  }, { errorDelayMs: 150 });
  await loop.start();
  await until('the retry', () => rounds.length === 2);
  assert.ok(rounds[1]! - rounds[0]! >= 140, `retried after ${rounds[1]! - rounds[0]!} ms`);
  await loop.stop();
});

test('nextPoke resolves on the next poke and on stop', async () => {
  const { loop } = recorder(() => ({ until: Date.now() + 60_000 }));
  await loop.start();
  let woken = false;
  void loop.nextPoke().then(() => (woken = true));
  await sleep(20);
  assert.equal(woken, false);
  loop.poke();
  await until('the waiter', () => woken);
  const onStop = loop.nextPoke();
  await loop.stop();
  await onStop;
  assert.equal(await Promise.race([loop.nextPoke().then(() => 'resolved'), sleep(20).then(() => 'pending')]), 'resolved', 'a stopped loop has nothing to wait for');
});

test('NOTIFY on the channel wakes the loop; a payload in the future arms the timer instead', async () => {
  const db = await createTestDatabase();
  try {
    const { loop, rounds } = recorder(() => ({ until: Date.now() + 60_000 }), {
      pool: db.pool,
      channel: 'herald_wake_loop_test',
      onNotify: (payload) => (payload ? Number(payload) : undefined),
    });
    await loop.start();
    await until('the first round', () => rounds.length >= 1);
    const before = rounds.length;
    await db.pool.query(`SELECT pg_notify('herald_wake_loop_test', '')`);
    await until('a round after NOTIFY', () => rounds.length === before + 1);
    const at = Date.now() + 300;
    await db.pool.query(`SELECT pg_notify('herald_wake_loop_test', $1)`, [String(at)]);
    await sleep(150);
    assert.equal(rounds.length, before + 1, 'a NOTIFY for a later time woke the loop early');
    await until('the round at the notified time', () => rounds.length === before + 2);
    assert.ok(Date.now() >= at - 5);
    await loop.stop();
  } finally {
    await db.close();
  }
});
