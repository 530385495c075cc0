import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdir, rmdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * Running the real `herald` command (bin/herald.js → dist/) in tests. dist/ is rebuilt when a
 * source file is newer than it; a lock directory keeps test files that run at the same time from
 * building over each other.
 */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'bin', 'herald.js');

async function newest(dir: string): Promise<number> {
  let latest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? await newest(full) : (await stat(full)).mtimeMs);
  }
  return latest;
}

// When the last build *started*: a source saved while tsc was running is newer than this.
const STAMP = path.join(ROOT, 'dist', '.build-started');

async function stale(): Promise<boolean> {
  try {
    await stat(path.join(ROOT, 'dist', 'cli', 'main.js'));
    return Number(await readFile(STAMP, 'utf8')) < (await newest(path.join(ROOT, 'src')));
  } catch {
    return true;
  }
}

export async function ensureBuilt(): Promise<void> {
  if (!(await stale())) return;
  const lock = path.join(tmpdir(), 'herald-dist-build.lock');
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
    if (!(await stale())) return;
    const started = Date.now();
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    // tsc emits even when another part of the tree has type errors; the exit code is not ours to judge here.
    await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT }).catch(() => undefined);
    await writeFile(STAMP, String(started));
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
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

/** Start `node bin/herald.js <args>` with only the given HERALD_* variables (plus PATH/HOME). */
export function spawnHerald(args: readonly string[], env: Record<string, string>): HeraldProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
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
