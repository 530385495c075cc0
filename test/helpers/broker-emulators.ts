import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect as netConnect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFauxqs } from 'fauxqs';

/**
 * Real broker engines for the tests, each on a free loopback port and stopped by the test:
 * Google's Pub/Sub emulator, the fauxqs SNS/SQS emulator, and private nats-server processes
 * (for fault tests that must stop the broker; the shared server on 4222 is never touched).
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** Kill a detached child and its process group (gcloud runs the emulator as a java child). */
async function stopGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
}

export interface PubSubEmulator {
  /** host:port for PUBSUB_EMULATOR_HOST / the client's apiEndpoint. */
  readonly host: string;
  stop(): Promise<void>;
  /** Kill the emulator (kill -9), keeping its port and directory for restart(). */
  kill(): Promise<void>;
  /** Start it again on the same port. It comes back empty: the emulator keeps no topics across restarts. */
  restart(): Promise<void>;
}

export async function startPubSubEmulator(): Promise<PubSubEmulator> {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'herald-pubsub-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    const c = spawn('gcloud', ['beta', 'emulators', 'pubsub', 'start', `--host-port=127.0.0.1:${port}`, `--data-dir=${dataDir}`, '--quiet'], {
      detached: true,
      stdio: 'ignore',
    });
    child = c;
    try {
      await waitForPort(port, 60_000, c);
    } catch (err) {
      await stopGroup(c, 'SIGKILL');
      throw err;
    }
  };
  await start();
  return {
    host: `127.0.0.1:${port}`,
    async stop() {
      if (child) await stopGroup(child);
      await rm(dataDir, { recursive: true, force: true });
    },
    async kill() {
      if (child) await stopGroup(child, 'SIGKILL');
    },
    restart: start,
  };
}

export interface SqsEmulator {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  stop(): Promise<void>;
  /** Stop serving (an outage), keeping the port for restart(). */
  halt(): Promise<void>;
  /** Serve again on the same port, with the queues and topics it had when `persistent`. */
  restart(): Promise<void>;
}

/** fauxqs on loopback; `persistent` keeps its state in a SQLite directory across restart(). */
export async function startSqsEmulator(port = 0, options: { persistent?: boolean } = {}): Promise<SqsEmulator> {
  const dataDir = options.persistent ? await mkdtemp(path.join(tmpdir(), 'herald-fauxqs-')) : undefined;
  // fauxqs binds 0.0.0.0 itself; the clients talk to it over loopback only.
  let server: Awaited<ReturnType<typeof startFauxqs>> | undefined = await startFauxqs({ port, logger: false, ...(dataDir ? { dataDir } : {}) });
  const bound = server.port;
  return {
    endpoint: `http://127.0.0.1:${bound}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    async stop() {
      await server?.stop();
      server = undefined;
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
    async halt() {
      await server?.stop();
      server = undefined;
    },
    async restart() {
      server = await startFauxqs({ port: bound, logger: false, ...(dataDir ? { dataDir } : {}) });
    },
  };
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  /** Stop the server (kill -9 when `hard`); its store stays for restart(). */
  stop(hard?: boolean): Promise<void>;
  /** Start it again on the same port and store. */
  restart(): Promise<void>;
  /** Stop and delete the store. */
  destroy(): Promise<void>;
}

/** A private `nats-server -js` with its own store directory. */
export async function startNatsServer(): Promise<NatsServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(path.join(tmpdir(), 'herald-nats-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('/usr/sbin/nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { detached: true, stdio: 'ignore' });
    await waitForPort(port, 10_000, child);
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    async stop(hard = false) {
      if (child) await stopGroup(child, hard ? 'SIGKILL' : 'SIGTERM');
      child = undefined;
    },
    restart: start,
    async destroy() {
      if (child) await stopGroup(child, 'SIGKILL');
      child = undefined;
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
