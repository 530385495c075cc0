import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = path.resolve(import.meta.dirname, '..', 'scripts', 'dependency-rules.js');

/** Runs the lint's dependency check on a small tree of `src/` files; resolves to its exit code and output. */
async function check(files: Record<string, string>): Promise<{ code: number; output: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-layers-'));
  try {
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), text);
    }
    try {
      const { stdout, stderr } = await run(process.execPath, [script, dir]);
      return { code: 0, output: stdout + stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, output: e.stdout + e.stderr };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the dependency rules hold for herald itself', async () => {
  const { stdout } = await run(process.execPath, [script]);
  assert.match(stdout, /dependency rules hold/);
});

test('an import from a lower layer to a higher one fails the check', async () => {
  const result = await check({
    'src/core/context.ts': "import { roles } from '../runtime/roles.ts';\nexport const context = roles;\n",
    'src/runtime/roles.ts': 'export const roles = 1;\n',
  });
  assert.equal(result.code, 1, result.output);
  assert.match(result.output, /core-imports-upward: src\/core\/context\.ts → src\/runtime\/roles\.ts/);
});

test('a type-only import upwards fails too', async () => {
  const result = await check({
    'src/channels/fit.ts': "import type { Worker } from '../dispatch/worker.ts';\nexport type Fit = Worker;\n",
    'src/dispatch/worker.ts': 'export interface Worker { readonly id: string }\n',
  });
  assert.equal(result.code, 1, result.output);
  assert.match(result.output, /channels-imports-upward: src\/channels\/fit\.ts → src\/dispatch\/worker\.ts/);
});

test('the same import downwards passes', async () => {
  const result = await check({
    'src/runtime/roles.ts': "import { context } from '../core/context.ts';\nexport const roles = context;\n",
    'src/core/context.ts': 'export const context = 1;\n',
  });
  assert.equal(result.code, 0, result.output);
});

test('two folders of one layer that import each other fail the check', async () => {
  const result = await check({
    'src/users/service.ts': "import { schedule } from '../reminders/schedule.ts';\nexport const users = schedule;\n",
    'src/reminders/schedule.ts': 'export const schedule = 1;\n',
    'src/reminders/service.ts': "import { users } from '../users/service.ts';\nexport const reminders = users;\n",
  });
  assert.equal(result.code, 1, result.output);
  assert.match(result.output, /folders-import-each-other: reminders ↔ users/);
});
