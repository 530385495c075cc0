#!/usr/bin/env node
// Regenerates packages/client/src/schema.ts, the typed client's types, from herald's current
// OpenAPI document (`npm run client:generate`). test/client-types.test.ts fails while the
// committed file differs from what this produces, so the client never drifts from the API.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import { openapiDocument } from './openapi.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SCHEMA_FILE = path.join(ROOT, 'packages/client/src/schema.ts');

/** The generated module's text for the current OpenAPI document. */
export async function generateClientTypes(): Promise<string> {
  const doc = (await openapiDocument()) as unknown as OpenAPI3;
  // A .ts file of types only (not .d.ts), so the package's build emits its declarations beside
  // the rest. Alphabetized: the output does not depend on the order routes are registered in.
  const ast = await openapiTS(doc, { alphabetize: true });
  return `${COMMENT_HEADER.replace('Do not make direct changes to the file.', 'Do not edit: run `npm run client:generate` (from herald\'s OpenAPI document).')}${astToString(ast)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(SCHEMA_FILE, await generateClientTypes());
  console.log(`wrote ${path.relative(ROOT, SCHEMA_FILE)}`);
}
