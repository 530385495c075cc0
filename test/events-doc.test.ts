import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EVENT_TYPES } from '../src/events/types.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('docs/events.md lists every event type of the union with its item, and no other', async () => {
  const doc = await readFile(path.join(ROOT, 'docs', 'events.md'), 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `([a-z-]+:[a-z-]+)` \| ([a-z-]+) \|/gm)].map((m) => [m[1]!, m[2]!]));
  const missing = Object.keys(EVENT_TYPES).filter((t) => !rows.has(t));
  assert.deepEqual(missing, [], 'add these to docs/events.md');
  const unknown = [...rows.keys()].filter((t) => !(t in EVENT_TYPES));
  assert.deepEqual(unknown, [], 'docs/events.md lists types herald does not record');
  for (const [type, item] of Object.entries(EVENT_TYPES)) assert.equal(rows.get(type), item, `${type} is about a ${item}`);
});

test('every statement that writes events goes through the outbox helpers (no INSERT INTO events elsewhere)', async () => {
  const { readdir } = await import('node:fs/promises');
  const offenders: string[] = [];
  for (const entry of await readdir(path.join(ROOT, 'src'), { recursive: true })) {
    if (!entry.endsWith('.ts') || entry === path.join('events', 'outbox.ts')) continue;
    const text = await readFile(path.join(ROOT, 'src', entry), 'utf8');
    if (/INSERT\s+INTO\s+events\b/i.test(text)) offenders.push(entry);
  }
  assert.deepEqual(offenders, []);
});
