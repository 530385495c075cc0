import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Pool } from '../../db/pool.ts';
import { HeraldError } from '../../errors/index.ts';
import { callerKey } from './auth.ts';

/**
 * `Idempotency-Key` on POST: the first request runs, repeats with the same key and body get the
 * first response (status and body), a repeat with another body gets 422. Keys are per caller and
 * kept at least 24 hours. A key whose first request died mid-way is taken over after its lock
 * (60 s) runs out.
 */
const LOCK_SECONDS = 60;
const KEEP_HOURS = 24;

interface Claim {
  caller: string;
  key: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: Claim | undefined;
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function requestHash(request: FastifyRequest): Buffer {
  const path = request.url.split('?')[0] ?? '';
  return createHash('sha256').update(`${request.method} ${path}\n${canonical(request.body ?? null)}`).digest();
}

export function registerIdempotency(app: FastifyInstance, pool: Pool): void {
  app.decorateRequest('idempotency', undefined);

  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    const header = request.headers['idempotency-key'];
    if (header === undefined) return;
    const key = Array.isArray(header) ? header[0] ?? '' : header;
    if (key.length === 0 || key.length > 255) {
      throw new HeraldError('VALIDATION_FAILED', 'Idempotency-Key must be 1 to 255 characters.', [{ field: 'headers.idempotency-key', message: 'must be 1 to 255 characters' }]);
    }
    const caller = callerKey(request.caller);
    const hash = requestHash(request);
    const path = request.url.split('?')[0] ?? '';
    if (Math.random() < 0.01) {
      void pool.query(`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)`, [KEEP_HOURS]).catch(() => undefined);
    }
    const inserted = await pool.query(
      `INSERT INTO idempotency_keys (caller, key, method, path, request_hash, locked_until)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
       ON CONFLICT (caller, key) DO NOTHING`,
      [caller, key, request.method, path, hash, LOCK_SECONDS],
    );
    if (inserted.rowCount === 1) {
      request.idempotency = { caller, key };
      return;
    }
    const { rows } = await pool.query<{
      request_hash: Buffer;
      status_code: number | null;
      response_body: unknown;
      locked: boolean;
    }>(
      `SELECT request_hash, status_code, response_body, locked_until > now() AS locked
         FROM idempotency_keys WHERE caller = $1 AND key = $2`,
      [caller, key],
    );
    const row = rows[0];
    if (!row) throw new HeraldError('IDEMPOTENCY_IN_PROGRESS');
    if (!row.request_hash.equals(hash)) throw new HeraldError('IDEMPOTENCY_KEY_REUSED');
    if (row.status_code !== null) {
      void reply.header('idempotent-replayed', 'true');
      if (row.status_code === 204) return reply.status(204).send();
      return reply.status(row.status_code).send(row.response_body);
    }
    if (row.locked) throw new HeraldError('IDEMPOTENCY_IN_PROGRESS');
    // The first request died without answering: take the key over.
    const taken = await pool.query(
      `UPDATE idempotency_keys SET locked_until = now() + make_interval(secs => $3)
        WHERE caller = $1 AND key = $2 AND status_code IS NULL AND locked_until <= now()`,
      [caller, key, LOCK_SECONDS],
    );
    if (taken.rowCount !== 1) throw new HeraldError('IDEMPOTENCY_IN_PROGRESS');
    request.idempotency = { caller, key };
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const claim = request.idempotency;
    if (!claim) return payload;
    request.idempotency = undefined;
    if (reply.statusCode >= 500) {
      await pool.query(`DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2`, [claim.caller, claim.key]);
      return payload;
    }
    let body: unknown = null;
    if (typeof payload === 'string' && payload.length > 0) {
      try {
        body = JSON.parse(payload);
      } catch {
        body = payload;
      }
    }
    await pool.query(
      `UPDATE idempotency_keys SET status_code = $3, response_body = $4::jsonb, locked_until = NULL
        WHERE caller = $1 AND key = $2`,
      [claim.caller, claim.key, reply.statusCode, JSON.stringify(body)],
    );
    return payload;
  });
}
