import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/**
 * Renders the kustomize overlays and checks the objects against the Kubernetes API schemas of
 * the `kubernetes-models` package (its validators are generated from the Kubernetes OpenAPI
 * document with ajv), plus a strict pass that refuses fields the API does not define.
 */
const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** `kubectl kustomize <dir>` parsed into objects. */
export async function render(dir: string, extraArgs: readonly string[] = []): Promise<K8sObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', ...extraArgs, dir], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new Error('kubectl is needed on PATH: `kubectl kustomize` renders the overlays', { cause: err });
    throw err;
  });
  return parseAllDocuments(stdout)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`kustomize output does not parse: ${doc.errors[0]?.message}`);
      return doc.toJSON() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** `apps/v1` + `Deployment` → the module path inside kubernetes-models (`apps/v1/Deployment`). */
function modelPath(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** Schema errors of one object, or undefined when it is valid; throws for an unknown kind. */
export async function schemaErrors(obj: K8sObject): Promise<string | undefined> {
  const specifier = `kubernetes-models/${modelPath(obj.apiVersion, obj.kind)}`;
  const mod = (await import(specifier)) as Record<string, ModelClass | undefined>;
  const Model = mod[obj.kind];
  if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  try {
    new Model(obj).validate();
    return undefined;
  } catch (err) {
    return `${obj.kind}/${obj.metadata.name}: ${(err as Error).message}`;
  }
}

/**
 * Fields the Kubernetes API does not define (a misspelt `readinesProbe` is silently dropped by
 * the API server, so a plain schema check passes it). The package's TypeScript declarations
 * are generated from the same OpenAPI document; each object is written as a typed literal and
 * the compiler's excess-property check finds every unknown field, at any depth. Returns the
 * compiler's messages (empty when every field is known).
 */
export async function unknownFields(objects: readonly K8sObject[]): Promise<string[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-k8s-strict-'));
  try {
    const lines: string[] = [];
    const starts: { line: number; name: string }[] = [];
    objects.forEach((obj, i) => {
      lines.push(`import type { I${obj.kind} as T${i} } from 'kubernetes-models/${modelPath(obj.apiVersion, obj.kind)}';`);
      starts.push({ line: lines.length + 1, name: `${obj.kind}/${obj.metadata.name}` });
      lines.push(...`export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};`.split('\n'));
    });
    await writeFile(path.join(dir, 'objects.ts'), lines.join('\n'));
    const owner = (line: number) => starts.filter((s) => s.line <= line).at(-1)?.name ?? '?';
    await writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          types: [],
          paths: { 'kubernetes-models/*': [path.join(ROOT, 'node_modules/kubernetes-models/*')] },
        },
        files: ['objects.ts'],
      }),
    );
    try {
      await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { maxBuffer: 16 * 1024 * 1024 });
      return [];
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? err);
      return out
        .split('\n')
        .filter((l) => l.includes('error TS'))
        .map((l) => `${owner(Number(/\((\d+),\d+\)/.exec(l)?.[1] ?? 0))}: ${l.replace(/^.*?error /, '')}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface Container {
  name: string;
  image?: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path?: string; port?: number | string } };
  readinessProbe?: { httpGet?: { path?: string; port?: number | string } };
  startupProbe?: { httpGet?: { path?: string; port?: number | string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string; secret?: { secretName: string } }[];
}

/** The pod template of a Deployment or Job. */
export function podSpec(obj: K8sObject): PodSpec {
  const spec = obj.spec as { template: { spec: PodSpec } };
  return spec.template.spec;
}
