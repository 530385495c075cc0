import pg from 'pg';
import type { Logger } from '../log/index.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that can run a query: the pool or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

// int8 (bigint) columns arrive as strings unless parsed: counts are cast to int in SQL instead,
// and bigint ids stay strings because ids are opaque strings in the API.
export function createPool(connectionString: string, max: number, log?: Logger, applicationName = 'herald'): Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: applicationName, idleTimeoutMillis: 30_000,
    // An unreachable server fails a request in seconds (answered 503) instead of holding it
    // for the operating system's TCP timeout.
    connectionTimeoutMillis: 10_000,
    // No JIT compilation: herald's statements are short, and the planner cannot see how many rows
    // an unnest() of parameter arrays gives, so a batch's fan-out statement is estimated at
    // millions of rows and crosses jit_above_cost; compiling it then took seconds for a statement
    // that runs in milliseconds (a batch of 1,000: 7 s of JIT, 30 ms of execution). PostgreSQL's
    // own advice for short OLTP queries is to leave JIT off:
    // https://www.postgresql.org/docs/current/jit-decision.html
    options: '-c jit=off' });
  // An idle client that errors (server restart, network) must not crash the process. pg-pool
  // hangs the whole Client on the error (err.client); the log's err serializer leaves it out.
  pool.on('error', (err) => log?.warn({ err, role: applicationName }, 'idle database connection failed'));
  return pool;
}

/**
 * Run `fn` in one transaction; commit on success, roll back on any error. `begin`: the statement
 * that opens it (settings for the transaction can go with it, in the same round trip).
 */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
