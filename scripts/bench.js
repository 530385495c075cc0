#!/usr/bin/env node
// Runs the benchmarks in bench/*.bench.ts one after another, each in its own process, and prints
// their figures. Each benchmark measures its baseline (a peer library or a bare loop) in the same
// run and prints ratios, since machines differ and ratios travel.
//
//   npm run bench                 every benchmark
//   npm run bench -- engine apns  those whose file name contains a word
//
// Database: HERALD_BENCH_DATABASE_URL (or HERALD_TEST_DATABASE_URL), else an embedded PostgreSQL
// in .tmp/bench-db.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!process.features?.typescript) {
  console.error(`the benchmarks run TypeScript directly and need Node.js 22.18+ (24 LTS recommended); this is ${process.version}`);
  process.exit(1);
}
const words = process.argv.slice(2);
const files = (await readdir(path.join(root, 'bench')))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => words.length === 0 || words.some((w) => f.includes(w)))
  .sort();

let embedded;
let url = process.env.HERALD_BENCH_DATABASE_URL ?? process.env.HERALD_TEST_DATABASE_URL;
if (!url) {
  const { startEmbedded } = await import('../src/db/embedded.ts');
  const { createLogger } = await import('../src/log/index.ts');
  embedded = await startEmbedded(path.join(root, '.tmp', 'bench-db'), createLogger('warn'));
  url = embedded.url;
}

let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file}`);
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', path.join('bench', file)], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, HERALD_BENCH_DATABASE_URL: url, HERALD_TEST_DATABASE_URL: url, HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL ?? 'silent' },
    });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    failed++;
    console.log(`!!! ${file} exited with ${code}`);
  }
}
await embedded?.stop();
process.exit(failed ? 1 : 0);
