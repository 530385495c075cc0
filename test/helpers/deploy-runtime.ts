import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './deploy-manifests.ts';

/**
 * The runtime image's file tree, assembled without Docker: the production dependencies
 * installed by the Dockerfile's own `deps` command, dist/ compiled from src/ with
 * tsconfig.build.json, and the files the runtime stage copies (package.json, bin/, migrations/).
 * Starting herald from it proves the image needs nothing from the dev dependencies or the
 * embedded PostgreSQL packages.
 */
const run = promisify(execFile);

export interface RuntimeTree {
  readonly dir: string;
  remove(): Promise<void>;
}

/** `depsCommand` is the deps stage's RUN command (without BuildKit --mount flags). */
export async function assembleRuntime(depsCommand: string): Promise<RuntimeTree> {
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-image-'));
  try {
    for (const f of ['package.json', 'package-lock.json']) await cp(path.join(ROOT, f), path.join(dir, f));
    // The same command as the image build; the npm cache makes it work offline once warm.
    await run('sh', ['-c', depsCommand], {
      cwd: dir,
      env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
      maxBuffer: 16 * 1024 * 1024,
    });
    await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')], {
      maxBuffer: 16 * 1024 * 1024,
    }).catch(() => undefined); // type errors elsewhere in the tree still emit; main.js is checked by the caller
    for (const d of ['bin', 'migrations']) await cp(path.join(ROOT, d), path.join(dir, d), { recursive: true });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Herald {
  readonly child: ChildProcess;
  output(): string;
  exit(): Promise<number | null>;
}

/** `node bin/herald.js <args>` from the runtime tree, with only the given environment. */
export function startHerald(dir: string, args: readonly string[], env: Record<string, string>): Herald {
  const child = spawn(process.execPath, [path.join(dir, 'bin/herald.js'), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exit: () => exited };
}

/** Polls until the URL answers 200; false after `ms`. */
export async function waitFor200(url: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
