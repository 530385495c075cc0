import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pg from 'pg';
import { createLogger, type Logger } from '../src/log/index.ts';
import { createPool } from '../src/db/pool.ts';
import { Listener } from '../src/db/listener.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually } from './helpers/engine.ts';

/**
 * What herald writes to its log when things fail: one short line naming the error, its code and
 * where it happened — never an internal object such as a pg Client (connection parameters, type
 * tables, backend keys) hanging off the error.
 */

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase(2);
});
after(async () => {
  await db.close();
});

interface Captured {
  readonly log: Logger;
  readonly lines: string[];
  find(msg: string): Record<string, unknown> & { err?: Record<string, unknown> };
}

function capture(): Captured {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const log = createLogger('debug', sink);
  return {
    log,
    lines,
    find(msg) {
      const line = lines.find((l) => (JSON.parse(l) as { msg?: string }).msg === msg);
      assert.ok(line, `a "${msg}" line in:\n${lines.join('\n')}`);
      return JSON.parse(line) as ReturnType<Captured['find']>;
    },
  };
}

/** Words only a serialised pg Client (or its connection) contains. */
const CLIENT_INTERNALS = /connectionParameters|_types|processID|secretKey|_connecting|_queryable|"client"/;

async function terminate(applicationName: string): Promise<void> {
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, [applicationName]);
  } finally {
    await admin.end();
  }
}

test('a failed idle database connection logs one short line: the error, its code and the role', async () => {
  const out = capture();
  const pool = createPool(db.url, 2, out.log, 'herald:worker');
  try {
    const client = await pool.connect();
    client.release(); // idle in the pool now
    await terminate('herald:worker');
    const line = await eventually(async () => out.lines.find((l) => l.includes('idle database connection failed')), 5_000, 'the log line');
    assert.ok(line.length < 1500, `${line.length} bytes: ${line}`);
    assert.doesNotMatch(line, CLIENT_INTERNALS);
    const entry = out.find('idle database connection failed');
    assert.equal(entry.role, 'herald:worker');
    assert.equal(entry.err?.code, '57P01', 'admin_shutdown');
    assert.match(String(entry.err?.message), /terminat/);
  } finally {
    await pool.end();
  }
});

test('a lost LISTEN connection logs a short line too', async () => {
  const out = capture();
  const pool = createPool(db.url, 2, out.log, 'herald:relay');
  const listener = new Listener(pool, out.log);
  try {
    await listener.listen('herald_log_test', () => undefined);
    await terminate('herald:listen');
    const line = await eventually(async () => out.lines.find((l) => l.includes('listen connection failed')), 5_000, 'the log line');
    assert.ok(line.length < 1500, `${line.length} bytes: ${line}`);
    assert.doesNotMatch(line, CLIENT_INTERNALS);
    assert.equal(out.find('listen connection failed').err?.code, '57P01');
  } finally {
    await listener.close();
    await pool.end();
  }
});

test('any err field is summarised: message, code and plain fields kept, objects dropped, causes followed', () => {
  const out = capture();
  const inner = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', socket: { huge: 'x'.repeat(10_000) } });
  const err = Object.assign(new Error('publishing failed', { cause: inner }), {
    code: 14,
    details: 'No connection established',
    metadata: { internalRepr: new Map([['a', ['b']]]), options: {} },
    $response: { body: 'y'.repeat(10_000) },
  });
  out.log.warn({ err }, 'publishing events failed');
  out.log.warn({ err: new AggregateError([new Error('first'), Object.assign(new Error('second'), { code: 'E2' })], 'all failed') }, 'several');
  out.log.warn({ err: { client: { connectionParameters: { password: 'p' } }, message: 'not an Error' } }, 'object thrown');
  out.log.warn({ err: 'just a string' }, 'string thrown');
  for (const line of out.lines) {
    assert.ok(line.length < 3000, `${line.length} bytes: ${line.slice(0, 300)}`);
    assert.doesNotMatch(line, /xxxxxxxxxx|yyyyyyyyyy|internalRepr|connectionParameters/);
  }
  const first = out.find('publishing events failed').err!;
  assert.equal(first.type, 'Error');
  assert.equal(first.message, 'publishing failed');
  assert.equal(first.code, 14);
  assert.equal(first.details, 'No connection established');
  assert.deepEqual({ ...(first.cause as object), stack: undefined }, { type: 'Error', message: 'socket hang up', code: 'ECONNRESET', stack: undefined });
  const several = out.find('several').err!;
  assert.deepEqual((several.errors as Array<{ message: string; code?: string }>).map((e) => [e.message, e.code]), [['first', undefined], ['second', 'E2']]);
  assert.equal(out.find('object thrown').err!.message, 'not an Error');
  assert.equal(out.find('string thrown').err!.message, 'just a string');
});
