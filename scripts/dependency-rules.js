#!/usr/bin/env node
// The layer check of `npm run lint`: the rules in .dependency-cruiser.cjs (no import from a lower
// layer to a higher one, no cycles, nothing unresolvable), then no two top-level folders of src/
// importing each other. The layers are described in docs/architecture.md.
//
//   node scripts/dependency-rules.js               this repository
//   node scripts/dependency-rules.js <directory>   another tree holding src/ (the tests use it)
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise } from 'dependency-cruiser';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = createRequire(import.meta.url)(path.join(root, '.dependency-cruiser.cjs'));

/**
 * Pairs of folders that still import each other. Temporary, like the upward-import exceptions in
 * .dependency-cruiser.cjs: src/channels/inbox/ wakes the engine through src/dispatch/wakeup.ts,
 * whose channel names are moving down to src/db/.
 */
const FOLDER_TIE_EXCEPTIONS = [['channels', 'dispatch']];

process.chdir(path.resolve(process.argv[2] ?? root));
const { output } = await cruise(['src'], { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden } });

const problems = output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);

const folderOf = (file) => /^src\/([^/]+)\//.exec(file)?.[1];
const ties = new Map();
for (const mod of output.modules) {
  const from = folderOf(mod.source);
  for (const dep of mod.dependencies) {
    const to = folderOf(dep.resolved);
    if (!from || !to || from === to) continue;
    const key = `${from} → ${to}`;
    if (!ties.has(key)) ties.set(key, `${mod.source} → ${dep.resolved}`);
  }
}
const excused = (a, b) => FOLDER_TIE_EXCEPTIONS.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
for (const [key, example] of ties) {
  const [a, b] = key.split(' → ');
  if (a < b && ties.has(`${b} → ${a}`) && !excused(a, b)) {
    problems.push(`folders-import-each-other: ${a} ↔ ${b} (${example}; ${ties.get(`${b} → ${a}`)})`);
  }
}

if (problems.length > 0) {
  console.error(`${problems.length} dependency rule(s) broken (layers: docs/architecture.md, rules: .dependency-cruiser.cjs):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`dependency rules hold (${output.summary.totalCruised} modules, ${output.summary.totalDependenciesCruised} imports)`);
