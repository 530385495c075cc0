import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Google's Pub/Sub emulator (`gcloud beta emulators pubsub start`) on a free loopback port, with
 * its own data directory; `stop()` ends the whole process group (gcloud runs a java child).
 */
export interface PubSubEmulator {
  /** host:port, for PUBSUB_EMULATOR_HOST or the client's apiEndpoint. */
  readonly host: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export async function startPubSubEmulator(timeoutMs = 60_000): Promise<PubSubEmulator> {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'herald-pubsub-'));
  const child = spawn('gcloud', ['beta', 'emulators', 'pubsub', 'start', `--host-port=127.0.0.1:${port}`, `--data-dir=${dataDir}`, '--quiet'], {
    detached: true,
    stdio: 'ignore',
  });
  const deadline = Date.now() + timeoutMs;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopGroup(child);
      await rm(dataDir, { recursive: true, force: true });
      throw new Error(`the Pub/Sub emulator did not listen on 127.0.0.1:${port}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    host: `127.0.0.1:${port}`,
    async stop() {
      await stopGroup(child);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
