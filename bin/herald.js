#!/usr/bin/env node
// The herald command. Runs the compiled code in dist/ (built by `npm install` / `npm run build`).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(
    `herald needs Node.js 22.12 or newer (24 LTS recommended); this is ${process.version}.\n` +
      'Install Node 24 (for example `npm install --prefix ~/.herald-node node@24` and put ' +
      '~/.herald-node/node_modules/.bin first on PATH), then run the command again.',
  );
  process.exit(1);
}
// Cache compiled code on disk between runs (Node 22.1+): warm starts skip most parsing.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
const { main } = await import('../dist/cli/main.js');
await main(process.argv.slice(2));
