import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { VARIABLES } from '../src/config/index.ts';
import { ERRORS } from '../src/errors/index.ts';
import { loadConfig, ConfigError } from '../src/config/index.ts';
import { ROOT, ensureBuilt, runHerald } from './helpers/herald-process.ts';

before(async () => {
  await ensureBuilt();
});

test('a wrong value stops `herald start` with a non-zero exit and a message naming the variable', async () => {
  const { code, stderr } = await runHerald(['start'], { HERALD_PORT: 'abc', HERALD_TRUST_GATEWAY_HEADERS: 'maybe' });
  assert.notEqual(code, 0);
  assert.match(stderr, /HERALD_PORT="abc": expected a whole number/);
  assert.match(stderr, /HERALD_TRUST_GATEWAY_HEADERS="maybe": expected true or false/);
});

test('a missing companion variable is named too, and secrets are not echoed', () => {
  assert.throws(
    () => loadConfig({ HERALD_DATABASE_URL: 'postgres://u:hunter2@db/x' }),
    (err: unknown) => err instanceof ConfigError && /HERALD_SECRET_KEY is required/.test(err.message) && !err.message.includes('hunter2'),
  );
  assert.throws(
    () => loadConfig({ HERALD_SMTP_URL: 'http://user:topsecret@mail' }),
    (err: unknown) => err instanceof ConfigError && /HERALD_SMTP_URL=\[redacted\]/.test(err.message) && !err.message.includes('topsecret'),
  );
});

test('docs/configuration.md names every variable herald reads', async () => {
  const doc = await readFile(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
  const missing = VARIABLES.map((v) => v.name).filter((name) => !doc.includes(`\`${name}\``));
  assert.deepEqual(missing, [], 'add these to docs/configuration.md');
});

test('docs/errors.md names every error code in the catalogue', async () => {
  const doc = await readFile(path.join(ROOT, 'docs', 'errors.md'), 'utf8');
  const missing = Object.keys(ERRORS).filter((code) => !doc.includes(`\`${code}\``));
  assert.deepEqual(missing, [], 'add these to docs/errors.md');
  for (const [code, { status }] of Object.entries(ERRORS)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `${code} is documented with status ${status}`);
  }
});
