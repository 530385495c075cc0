import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, ensureBuilt, withBuildLock } from './helpers/herald-process.ts';

/**
 * `npm start` builds before it runs, so a fresh clone works as the README says; a warm start must
 * not pay for a full compile each time (seconds before herald even starts): the build is
 * incremental and does nothing while dist/ is up to date.
 */

async function mtimes(dir: string, into = new Map<string, number>()): Promise<Map<string, number>> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await mtimes(full, into);
    else into.set(path.relative(ROOT, full), (await stat(full)).mtimeMs);
  }
  return into;
}

test('npm start builds only when dist/ is out of date: with an up-to-date dist/ nothing is compiled or written', async () => {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const steps = pkg.scripts.start!.split(' && ');
  assert.equal(steps.at(-1), 'node bin/herald.js start');
  const build = steps.slice(0, -1).join(' && ');
  assert.ok(build, 'npm start builds first (a fresh clone has no dist/)');
  await ensureBuilt();
  const rewritten = await withBuildLock(async () => {
    const before = await mtimes(path.join(ROOT, 'dist'));
    // As npm runs a script: through a shell, with node_modules/.bin on PATH.
    await promisify(execFile)('sh', ['-c', build], {
      cwd: ROOT,
      env: { ...process.env, PATH: `${path.join(ROOT, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH ?? ''}` },
    });
    const after = await mtimes(path.join(ROOT, 'dist'));
    return [...after].filter(([file, mtime]) => before.get(file) !== mtime).map(([file]) => file);
  });
  assert.deepEqual(rewritten, [], 'no file of dist/ was written again');
});
