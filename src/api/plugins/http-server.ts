import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyServerFactory, RawServerDefault } from 'fastify';
import { ERRORS } from '../../errors/index.ts';

export interface HttpLimits {
  /** Whole request (headers and body) must arrive within this; slower clients get 408. */
  readonly requestTimeoutMs: number;
  /** Headers must arrive within this. */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** Connections open at once; more are refused at accept. */
  readonly maxConnections: number;
  /** Requests per keep-alive connection (0: no limit). */
  readonly maxRequestsPerSocket: number;
}

/**
 * The listening server with limits on slow and many clients. Node's defaults leave a body
 * trickled a byte at a time held open for minutes (Fastify turns the request timeout off), and
 * no cap on connections: a handful of slow-loris clients could hold every socket. Node checks
 * these timeouts on an interval (30 s by default), so the interval is set from the shortest
 * one to enforce them close to their value.
 */
/**
 * What a client whose request never completed is told (Fastify's clientErrorHandler), in the
 * error envelope of every other answer: 408 REQUEST_TIMEOUT past the request or headers
 * timeout, 400 for bytes that are not HTTP. The socket is closed either way.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const code = timeout ? 'REQUEST_TIMEOUT' : 'VALIDATION_FAILED';
  const body = JSON.stringify({ error: { code, message: timeout ? ERRORS.REQUEST_TIMEOUT.message : 'The request is not valid HTTP.' } });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${timeout ? '408 Request Timeout' : '400 Bad Request'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

export function serverFactory(limits: HttpLimits): FastifyServerFactory<RawServerDefault> {
  return (handler) => {
    const shortest = Math.min(limits.requestTimeoutMs, limits.headersTimeoutMs);
    const server = http.createServer(
      {
        requestTimeout: limits.requestTimeoutMs,
        // Node requires headersTimeout <= requestTimeout.
        headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(shortest / 4))),
      },
      handler,
    );
    server.maxConnections = limits.maxConnections;
    if (limits.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
    return server;
  };
}
