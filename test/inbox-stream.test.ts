import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './helpers/engine.ts';
import { createHarness } from './helpers/app.ts';
import { INBOX_CHANNEL } from '../src/db/wakeup.ts';

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

test('an item stored the moment the stream has answered is delivered on it', async () => {
  // A fresh API process: its LISTEN connection is opened by this first stream.
  const h = await createHarness();
  const leave = new AbortController();
  try {
    const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
    await h.request({ method: 'PUT', url: '/v1/users/early', payload: {} });
    const res = await fetch(`${address}/v1/users/early/inbox/stream`, { headers: { authorization: `Bearer ${h.apiKey}` }, signal: leave.signal });
    assert.equal(res.status, 200);
    // The stream has answered: store an item at once, as the worker does (row + NOTIFY).
    await h.db.pool.query(
      `WITH ins AS (INSERT INTO inbox_items (id, user_id, title) VALUES (gen_random_uuid()::text, 'early', 'right away') RETURNING id, user_id)
       SELECT pg_notify($1, json_build_object('userId', user_id, 'id', id)::text) FROM ins`,
      [INBOX_CHANNEL],
    );
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const limit = setTimeout(() => leave.abort(), 5_000);
    try {
      while (!text.includes('event: inbox')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // aborted by the time limit: the assertion below says what was missing
    } finally {
      clearTimeout(limit);
    }
    assert.match(text, /event: inbox\ndata: .*"title":"right away"/, `the item arrived on the stream within 5 s; got: ${JSON.stringify(text)}`);
  } finally {
    leave.abort();
    await h.close();
  }
});
