import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rmdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * Running the real `herald` command (bin/herald.js → dist/) in tests. dist/ is brought up to date
 * by the project's build (`tsc -b`, which rebuilds only when a source is newer than its output);
 * a lock directory keeps test files that run at the same time from building over each other.
 */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'bin', 'herald.js');

/**
 * Run `fn` holding this checkout's build lock (a directory in os.tmpdir()): test files running at
 * the same time must not build dist/ over each other, or read it half-written.
 */
export async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = path.join(tmpdir(), `herald-dist-build-${createHash('sha256').update(ROOT).digest('hex').slice(0, 8)}.lock`);
  for (let i = 0; ; i++) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (i > 600) throw new Error(`waited too long for ${lock}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
}

/** The project's build (`tsc -b`: a no-op when dist/ is up to date); resolves once dist/ is current. */
export async function ensureBuilt(): Promise<void> {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // tsc emits even when another part of the tree has type errors; the exit code is not ours to judge here.
  await withBuildLock(() => promisify(execFile)(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: ROOT }).catch(() => undefined));
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface HeraldProcess {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/**
 * Start `node bin/herald.js <args>` with only the given HERALD_* variables (plus PATH/HOME).
 * `root`: another build's checkout to run instead of this one (benchmarks' before/after).
 */
export function spawnHerald(args: readonly string[], env: Record<string, string>, root = ROOT): HeraldProcess {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'herald.js'), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), HERALD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Run to completion: exit code, stdout, stderr. */
export async function runHerald(args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), HERALD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}

/** Poll a URL until it answers 200 (or the process exits, or time runs out). */
export async function waitFor200(url: string, proc: HeraldProcess, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (Date.now() - started < timeoutMs) {
    if (exited) throw new Error(`herald exited before ${url} answered:\n${proc.output()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${proc.output()}`);
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = path.join(tmpdir(), `${prefix}${process.pid}-${Date.now().toString(36)}`);
  await mkdir(dir, { recursive: true });
  return dir;
}
