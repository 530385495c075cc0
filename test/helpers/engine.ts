import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Channel, DeliveryJob, Provider, Verdict } from '../../src/channels/types.ts';
import { createInboxChannel } from '../../src/channels/inbox/index.ts';
import { createWebhookChannel } from '../../src/channels/webhook/index.ts';
import { DeliveryWorker, type WorkerOptions } from '../../src/dispatch/worker.ts';
import { engineMetrics } from '../../src/dispatch/metrics.ts';
import { AppProblemTracker } from '../../src/dispatch/app-problems.ts';
import { withTemplates } from '../../src/dispatch/render-step.ts';
import { TemplateCache } from '../../src/templates/cache.ts';
import { withUnsubscribeLinks } from '../../src/dispatch/unsubscribe-step.ts';
import { CapStep } from '../../src/dispatch/cap-step.ts';
import { DigestStep } from '../../src/dispatch/digest-step.ts';
import { gateChain } from '../../src/dispatch/gates.ts';
import { ReminderScheduler } from '../../src/scheduler/index.ts';
import { TEST_OUTBOUND_ALLOW, type TestHarness } from './app.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A scriptable channel for engine tests: answers with whatever `answer` returns. */
export function scriptedChannel(provider: Provider, answer: (job: DeliveryJob) => Verdict | Promise<Verdict>, maxAttempts = 5): Channel & { jobs: DeliveryJob[] } {
  const jobs: DeliveryJob[] = [];
  return {
    provider,
    maxAttempts,
    jobs,
    async send(job) {
      jobs.push(job);
      return answer(job);
    },
    async close() {},
  };
}

export interface RunningEngine {
  readonly worker: DeliveryWorker;
  readonly scheduler: ReminderScheduler;
  stop(): Promise<void>;
}

/** Worker (inbox + webhook + extra channels) and scheduler in this process, on the harness database. */
export async function startEngine(h: TestHarness, extra: Channel[] = [], options: Partial<WorkerOptions> = {}): Promise<RunningEngine> {
  const deps = { config: h.ctx.config, log: h.ctx.log, metrics: h.ctx.metrics, credentials: h.services.credentials };
  const channels = new Map<Provider, Channel>([
    ['inbox', createInboxChannel(h.db.pool)],
    ['webhook', createWebhookChannel(deps)],
  ]);
  for (const c of extra) channels.set(c.provider, c);
  // As the worker role does: templates render just before each channel sends.
  const worker = new DeliveryWorker(h.db.pool, withUnsubscribeLinks(withTemplates(channels, new TemplateCache(h.db.pool)), h.services.unsubscribeLinks), h.ctx.log, engineMetrics(h.ctx.metrics), {
    batchSize: 100,
    concurrency: 200,
    leaseSeconds: 30,
    backoff: { baseMs: 50, capMs: 200 },
    problems: new AppProblemTracker(h.services.credentials, h.ctx.log),
    // Frequency caps before each send, as the worker role has them (read afresh for every delivery here).
    gate: gateChain(new DigestStep(h.db.pool, { cacheMs: 0 }), new CapStep(h.db.pool, { cacheMs: 0 })),
    ...options,
  });
  const scheduler = new ReminderScheduler(h.db.pool, h.ctx.log, h.services.recurrences);
  await worker.start();
  await scheduler.start();
  return {
    worker,
    scheduler,
    async stop() {
      await scheduler.stop();
      await worker.stop(5_000);
      await Promise.allSettled([...channels.values()].map((c) => c.close()));
    },
  };
}

export interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly json: Record<string, unknown>;
}

/** A local webhook receiver; `respond` picks the status for each request. */
export async function webhookSink(respond: (r: Received, n: number) => number | Promise<number> = () => 200): Promise<{ url: string; received: Received[]; close(): Promise<void>; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // keep {}
      }
      const r = { headers: req.headers, body, json };
      received.push(r);
      const status = await respond(r, received.length);
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    server,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Poll until `check` returns a truthy value (or fail after timeoutMs). */
export async function eventually<T>(check: () => Promise<T | undefined | false | null>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Spawn a real herald process from the sources (`node src/cli/run.ts <args>`). */
export function spawnHerald(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [path.join(ROOT, 'src/cli/run.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, HERALD_LOG_LEVEL: 'warn', HERALD_PORT: '0', HERALD_OUTBOUND_ALLOW: TEST_OUTBOUND_ALLOW, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
