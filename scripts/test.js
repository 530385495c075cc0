#!/usr/bin/env node
// Runs the test suite with Node's test runner, straight from the TypeScript sources.
//
// Database: HERALD_TEST_DATABASE_URL when given (CI uses the machine's PostgreSQL); otherwise an
// embedded PostgreSQL is started in .tmp/test-db for the run, so `npm test` works on a fresh
// machine. Each test file creates its own database from a migrated template.
//
//   npm test                          every test file
//   npm test -- test/config.test.ts   some files
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!process.features?.typescript) {
  console.error(`the tests run TypeScript directly and need Node.js 22.18+ (24 LTS recommended); this is ${process.version}`);
  process.exit(1);
}

const files = process.argv.slice(2);
let embedded;
let url = process.env.HERALD_TEST_DATABASE_URL;
if (!url) {
  const { startEmbedded } = await import('../src/db/embedded.ts');
  const { createLogger } = await import('../src/log/index.ts');
  const dir = path.join(root, '.tmp', 'test-db');
  embedded = await startEmbedded(dir, createLogger('warn'));
  url = embedded.url;
  console.log(`# tests use an embedded PostgreSQL in ${path.relative(root, dir)}`);
}

const concurrency = process.env.HERALD_TEST_CONCURRENCY ?? String(Math.max(2, availableParallelism()));
const args = [
  '--test',
  `--test-concurrency=${concurrency}`,
  '--test-timeout=300000',
  '--test-reporter=spec',
  ...(files.length ? files : ['test/**/*.test.ts']),
];
const child = spawn(process.execPath, args, {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, HERALD_TEST_DATABASE_URL: url, HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL ?? 'silent' },
});
const stop = () => child.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
if (embedded) {
  await embedded.stop();
  await rm(path.join(root, '.tmp', 'test-db', 'herald.lock'), { force: true });
}
process.exit(code);
