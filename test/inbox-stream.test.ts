import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './helpers/engine.ts';

test('clients that leave the inbox stream while it is being set up leave nothing running', async () => {
  const child = spawn(process.execPath, [path.join(ROOT, 'test/helpers/stream-leave-child.ts')], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const limit = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  clearTimeout(limit);
  assert.match(output, /closed/, `the child shut herald down: ${output}`);
  assert.equal(signal, null, `the process exited by itself after shutdown (it was killed: something kept running)\n${output}`);
  assert.equal(code, 0, output);
});
