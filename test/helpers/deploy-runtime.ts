import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './deploy-manifests.ts';

/**
 * The runtime image's file tree, assembled without Docker from the Dockerfile's own steps:
 * dist/ (and the inbox component's bundle) built in a directory holding only what the build
 * stage copies (with the repository's node_modules standing in for its `npm ci`, same
 * lockfile), the production dependencies installed by the deps stage's command, and the files
 * the runtime stage copies (package.json, bin/, migrations/). Starting herald from it proves the build context is
 * complete and the image needs nothing from the dev dependencies or the embedded PostgreSQL
 * packages.
 */
const run = promisify(execFile);

export interface RuntimeTree {
  readonly dir: string;
  remove(): Promise<void>;
}

export interface ImageSteps {
  /** Sources the build stage copies from the context. */
  readonly buildSources: readonly string[];
  /** The build stage's RUN commands after its dependency install (`npm run build`). */
  readonly buildCommands: readonly string[];
  /** The deps stage's RUN command (BuildKit --mount flags removed). */
  readonly depsCommand: string;
  /** Sources the runtime stage copies from the context. */
  readonly runtimeSources: readonly string[];
  /** What the runtime stage copies from the build stage (paths under /app: dist, the inbox bundle). */
  readonly fromBuild: readonly string[];
}

const NPM_ENV = { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' };

export async function assembleRuntime(steps: ImageSteps): Promise<RuntimeTree> {
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-image-'));
  try {
    const build = path.join(dir, 'build');
    const app = path.join(dir, 'app');
    for (const src of steps.buildSources) await cp(path.join(ROOT, src), path.join(build, src), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules'), path.join(build, 'node_modules'), 'dir');
    for (const command of steps.buildCommands) {
      await run('sh', ['-c', command], { cwd: build, env: NPM_ENV, maxBuffer: 16 * 1024 * 1024 });
    }
    await mkdir(app);
    for (const f of ['package.json', 'package-lock.json']) await cp(path.join(ROOT, f), path.join(app, f));
    // The same command as the image build; the npm cache makes it work offline once warm.
    await run('sh', ['-c', steps.depsCommand], { cwd: app, env: NPM_ENV, maxBuffer: 16 * 1024 * 1024 });
    for (const built of steps.fromBuild) await cp(path.join(build, built), path.join(app, built), { recursive: true });
    for (const src of steps.runtimeSources) await cp(path.join(ROOT, src), path.join(app, src), { recursive: true });
    return { dir: app, remove: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
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
