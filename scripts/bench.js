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

// A benchmark may print `SUMMARY {"figure", "value", "baseline", "baselineValue", "ratio", "goal"}`
// lines; they are gathered into the table printed at the end.
const summary = [];
let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file}`);
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', path.join('bench', file)], {
      cwd: root,
      stdio: ['inherit', 'pipe', 'inherit'],
      env: { ...process.env, HERALD_BENCH_DATABASE_URL: url, HERALD_TEST_DATABASE_URL: url, HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL ?? 'silent' },
    });
    let pending = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('SUMMARY ')) continue;
        try {
          summary.push({ file, ...JSON.parse(line.slice(8)) });
        } catch {
          // not a summary line after all
        }
      }
    });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    failed++;
    console.log(`!!! ${file} exited with ${code}`);
  }
}
await embedded?.stop();
if (summary.length > 0) {
  console.log('\n=== summary (each ratio against a baseline measured in the same run)');
  console.log('| benchmark | figure | herald | baseline | baseline figure | ratio | goal |');
  console.log('|---|---|---:|---|---:|---:|---|');
  for (const r of summary) console.log(`| ${r.file} | ${r.figure} | ${r.value} | ${r.baseline} | ${r.baselineValue ?? '—'} | ${r.ratio == null ? '—' : `${r.ratio}×`} | ${r.goal ?? ''} |`);
}
process.exit(failed ? 1 : 0);
