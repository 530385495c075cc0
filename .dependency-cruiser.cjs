/**
 * herald's layers, from the ground up (docs/architecture.md). A module may import from its own
 * layer or any layer below it, never from a layer above: `npm run lint` runs
 * `depcruise --config .dependency-cruiser.cjs src` and fails on the first upward import.
 */
const LAYERS = [
  { name: 'core', folders: ['core', 'config', 'log', 'errors', 'health', 'outbound'] },
  { name: 'db', folders: ['db'] },
  { name: 'domain', folders: ['users', 'devices', 'apps', 'reminders', 'notifications', 'templates', 'events', 'inbox', 'auth', 'limits', 'privacy', 'topics', 'preferences'] },
  { name: 'channels', folders: ['channels'] },
  { name: 'engine', folders: ['dispatch', 'scheduler', 'retention'] },
  { name: 'edges', folders: ['api', 'console', 'ingest', 'ingest-apns', 'relay', 'brokers'] },
  { name: 'runtime', folders: ['runtime', 'cli'] },
];

/**
 * Upward imports still standing, each to be removed by moving what it names to a lower layer.
 * Listed here one by one so that no new one slips in beside them.
 */
const EXCEPTIONS = [];

const folders = (layers) => `^src/(${layers.flatMap((l) => l.folders).join('|')})/`;

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer.name}-imports-upward`,
  severity: 'error',
  comment: `${layer.name} (${layer.folders.join(', ')}) may import only from ${LAYERS.slice(0, i + 1).map((l) => l.name).join(', ')}`,
  from: { path: folders([layer]) },
  to: {
    path: folders(LAYERS.slice(i + 1)),
    pathNot: EXCEPTIONS.map((e) => e.to),
  },
}));

// An exception excuses only the imports it names: the same target from any other lower module fails.
const exceptionTargets = [...new Set(EXCEPTIONS.map((e) => e.to))];
const exceptionLeaks = exceptionTargets.map((to) => {
  const below = LAYERS.findIndex((l) => l.folders.some((f) => to.startsWith(`^src/${f}/`)));
  return {
    name: 'upward-import-beyond-listed-exceptions',
    severity: 'error',
    comment: `${to} sits in a higher layer; only the exceptions listed in .dependency-cruiser.cjs may import it from below`,
    from: { path: folders(LAYERS.slice(0, below)), pathNot: EXCEPTIONS.filter((e) => e.to === to).map((e) => e.from) },
    to: { path: to },
  };
});

module.exports = {
  forbidden: [
    ...upward,
    ...exceptionLeaks,
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'not-to-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type from a higher layer ties the layers as much as a value.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.json'] },
  },
};
