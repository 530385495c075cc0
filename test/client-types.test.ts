import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { generateClientTypes, SCHEMA_FILE } from '../scripts/client-generate.ts';

// One generation for both tests: it builds herald's app, which takes a moment.
const generated = generateClientTypes();

test("the typed client's generated types match herald's current OpenAPI document", async () => {
  const committed = await readFile(SCHEMA_FILE, 'utf8').catch(() => '');
  const current = await generated;
  if (committed === current) return;
  // Name the first differing line, so the failure says what moved.
  const a = committed.split('\n');
  const b = current.split('\n');
  const line = a.findIndex((l, i) => l !== b[i]);
  assert.fail(
    `packages/client/src/schema.ts is out of date with the API: run \`npm run client:generate\` and commit the result.\n` +
      `first difference at line ${line + 1}:\n  committed: ${a[line] ?? '(end of file)'}\n  current:   ${b[line] ?? '(end of file)'}`,
  );
});

test('the generated types cover the inbox routes the client and <herald-inbox> use', async () => {
  const current = await generated;
  for (const route of ['"/v1/me/inbox"', '"/v1/me/inbox/{itemId}/read"', '"/v1/me/inbox/read-all"', '"/v1/me/inbox/stream"', '"/v1/users/{userId}/inbox/stream"', '"/v1/notifications"']) {
    assert.ok(current.includes(`${route}: {`), `${route} is typed`);
  }
});
