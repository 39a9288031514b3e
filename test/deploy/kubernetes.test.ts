import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startServer, type ServerDeps } from '../../src/server/http.js';
import { cli, ROOT } from '../fixtures/cli.js';

/**
 * deploy/kubernetes is a kustomize base. No cluster runs here: the base is rendered the way
 * kustomize renders it (resources, then the images transformer: all it uses), every object
 * is validated against the Kubernetes API schemas (kubernetes-models, and the Prometheus
 * Operator's for the ServiceMonitor), unknown fields included, and the pieces are checked
 * against each other and against hookwarden itself.
 */

const DIR = join(ROOT, 'deploy', 'kubernetes');

// Loose views of the objects, for the checks below; the schemas check their shapes.
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
interface Port {
  name?: string;
  containerPort: number;
}
interface Probe {
  httpGet: { path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports: Port[];
  envFrom?: { secretRef?: { name: string } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface DeploymentObj extends Obj {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        containers: Container[];
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
        volumes: { name: string; configMap?: { name: string }; emptyDir?: object }[];
      };
    };
  };
}
interface ServiceObj extends Obj {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: number | string }[] };
}
interface ServiceMonitorObj extends Obj {
  spec: {
    selector: { matchLabels: Record<string, string> };
    endpoints: { port: string; path?: string; authorization?: { type?: string; credentials: { name: string; key: string } } }[];
  };
}
interface PdbObj extends Obj {
  spec: { minAvailable?: number; maxUnavailable?: number; selector: { matchLabels: Record<string, string> } };
}
interface SecretObj extends Obj {
  stringData: Record<string, string>;
}

interface Validating {
  validate(): void;
}
/** The schema of each kind the base may hold. */
const MODELS: Record<string, new (data: never) => Validating> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

function loadYaml(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) expect(d.errors.map(String), file).toEqual([]);
  return list.map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
}

/** kustomize build, for what this base uses: resources and images. Anything else fails, so that the rendering stays faithful. */
function render(): { kustomization: { resources: string[] }; objects: Obj[] } {
  const k = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as Record<string, unknown> & {
    resources: string[];
    images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  };
  expect(Object.keys(k).sort()).toEqual(expect.arrayContaining(['apiVersion', 'kind', 'resources']));
  for (const key of Object.keys(k)) expect(['apiVersion', 'kind', 'resources', 'images'], `kustomization key ${key}`).toContain(key);
  expect(k.apiVersion).toBe('kustomize.config.k8s.io/v1beta1');
  expect(k.kind).toBe('Kustomization');
  const objects = k.resources.flatMap((r) => loadYaml(join(DIR, r)));
  for (const o of objects) {
    if (o.kind !== 'Deployment') continue;
    for (const c of (o as DeploymentObj).spec.template.spec.containers) {
      const m = /^([^:@]+)(?::([^@]+))?(?:@(.+))?$/.exec(c.image)!;
      const rule = k.images?.find((i) => i.name === m[1]);
      if (!rule) continue;
      const tag = rule.digest ? `@${rule.digest}` : rule.newTag ? `:${rule.newTag}` : m[2] ? `:${m[2]}` : '';
      c.image = `${rule.newName ?? m[1]}${tag}`;
    }
  }
  return { kustomization: k, objects };
}

/** Fields the schema does not know (kubectl apply rejects them: server-side field validation is strict). */
function unknownFields(Model: new (data: never) => Validating, obj: Obj): string[] {
  // Each field in turn is given a value no schema accepts: a known field is then rejected, an unknown one is not.
  const probe = Symbol('probe');
  const found: string[] = [];
  const walk = (node: unknown, path: (string | number)[]) => {
    if (Array.isArray(node)) return node.forEach((v, i) => walk(v, [...path, i]));
    if (!node || typeof node !== 'object') return;
    for (const key of Object.keys(node)) {
      const copy = structuredClone(obj) as unknown as Record<string | number, unknown>;
      let at = copy;
      for (const p of path) at = at[p] as Record<string | number, unknown>;
      at[key] = probe;
      let rejected = false;
      try {
        new Model(copy as never).validate();
      } catch {
        rejected = true;
      }
      if (!rejected) found.push([...path, key].join('.'));
      walk((node as Record<string, unknown>)[key], [...path, key]);
    }
  };
  walk(obj, []);
  return found;
}

const { kustomization, objects } = render();
const one = <T extends Obj>(kind: string): T => {
  const all = objects.filter((o) => o.kind === kind);
  expect(all, kind).toHaveLength(1);
  return all[0] as T;
};
const deployment = one<DeploymentObj>('Deployment');
const pod = deployment.spec.template;
const container = pod.spec.containers[0]!;
const service = one<ServiceObj>('Service');
const monitor = one<ServiceMonitorObj>('ServiceMonitor');
const pdb = one<PdbObj>('PodDisruptionBudget');
const configMap = one<Obj & { data: Record<string, string> }>('ConfigMap');
const secret = loadYaml(join(DIR, 'secret.example.yaml'))[0] as SecretObj;

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
/** A probe's or a Service's port, named or numbered, as the container port it means. */
const containerPort = (port: number | string) => container.ports.find((p) => (typeof port === 'number' ? p.containerPort === port : p.name === port))?.containerPort;

/** Where the config is read from: the -c argument, a file of the mounted ConfigMap. */
const configPath = container.args![container.args!.indexOf('-c') + 1]!;
const configText = () => {
  const mount = container.volumeMounts!.find((m) => m.mountPath === posix.dirname(configPath))!;
  const volume = pod.spec.volumes.find((v) => v.name === mount.name)!;
  expect(volume.configMap?.name).toBe(configMap.metadata.name);
  const text = configMap.data[posix.basename(configPath)];
  expect(text, `${configMap.metadata.name} has ${posix.basename(configPath)}`).toBeDefined();
  return text!;
};
/** The config as hookwarden loads it, with nothing in the environment but the Secret's keys. */
const config = () => parseConfig(configText(), `${configMap.metadata.name}/${posix.basename(configPath)}`, { env: { ...secret.stringData } });

describe('Kubernetes base (deploy/kubernetes)', () => {
  it('lists every manifest of the directory but the example Secret, which it never applies', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'secret.example.yaml').sort());
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceMonitor']);
    // A base leaves the namespace to whoever applies it.
    for (const o of [...objects, secret]) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBeUndefined();
  });

  it.each([...objects.map((o) => [`${o.kind} ${o.metadata.name}`, o] as const), ['the example Secret', secret] as const])('%s is valid against the API schema, with no unknown field', (_, o) => {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    expect(Model, `${o.apiVersion} ${o.kind} is a kind the test knows`).toBeDefined();
    expect(() => new Model!(o as never).validate()).not.toThrow();
    expect(unknownFields(Model!, o)).toEqual([]);
  });

  it('runs two replicas with resources, the image from kustomization images, and credentials from the Secret', () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(matches(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(pod.spec.containers).toHaveLength(1);
    expect(container.image).toBe('registry.example.com/hookwarden:0.1.0');
    expect(container.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources?.limits).toMatchObject({ memory: expect.any(String) });
    expect(container.envFrom?.map((e) => e.secretRef?.name)).toContain(secret.metadata.name);
  });

  it('meets the restricted Pod Security Standard, as the same user as the image', () => {
    const podSc = pod.spec.securityContext ?? {};
    const sc = container.securityContext ?? {};
    expect(podSc.runAsNonRoot ?? sc.runAsNonRoot).toBe(true);
    expect((sc.seccompProfile ?? podSc.seccompProfile)?.type).toBe('RuntimeDefault');
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.privileged ?? false).toBe(false);
    expect(sc.capabilities?.drop).toContain('ALL');
    expect(sc.capabilities?.add ?? []).toEqual([]);
    // The Dockerfile's USER, by number: runAsNonRoot can check it.
    const user = /^USER\s+(\d+)/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
    expect(String(sc.runAsUser ?? podSc.runAsUser)).toBe(user);
    // With a read-only root, /tmp is an emptyDir.
    const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
    expect(pod.spec.volumes.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
  });

  it('holds a config that hookwarden loads, with every ${NAME} from the Secret, listening where the probes and the Service look', () => {
    const c = config();
    expect(c.desired.length).toBeGreaterThan(0);
    // Replicas share one Postgres: an embedded one per pod would split the state.
    expect(c.databaseUrl).toBe(secret.stringData.DATABASE_URL);
    expect(c.listen.host).toBe('0.0.0.0');
    expect(container.ports.map((p) => p.containerPort)).toContain(c.listen.port);
    // Off loopback the status page and /metrics require a token; the Secret holds it.
    expect(configText()).toMatch(/^\s+token: \$\{HOOKWARDEN_SERVER_TOKEN\}/m);
    expect(c.livenessTimeoutSeconds).toBeGreaterThan(0);
  });

  it('holds a config that `hookwarden validate` accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookwarden-k8s-'));
    const file = join(dir, basename(configPath));
    writeFileSync(file, configText());
    const r = await cli(['validate', '-c', file], secret.stringData);
    rmSync(dir, { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid');
  });

  it('has an example Secret of placeholders only', () => {
    expect(secret.metadata.name).toBe('hookwarden');
    for (const [k, v] of Object.entries(secret.stringData)) expect(v, k).toContain('replace-me');
    expect(Object.keys(secret.stringData)).toContain('DATABASE_URL');
  });

  describe('probes, Service and ServiceMonitor reach routes hookwarden serves', () => {
    const token = () => secret.stringData.HOOKWARDEN_SERVER_TOKEN!;
    let server: Awaited<ReturnType<typeof startServer>>;
    beforeAll(async () => {
      // The real HTTP server with the token the config sets; only what these routes read is provided.
      const deps = {
        store: {},
        metrics: { registry: { metrics: async () => '# no metrics in this test\n', contentType: 'text/plain; version=0.0.4' } },
        clock: systemClock,
        logger: silentLogger,
        ready: () => true,
        storeUp: () => true,
        sinceLastWake: () => 1,
        livenessTimeoutSeconds: config().livenessTimeoutSeconds,
        token: token(),
      } as unknown as ServerDeps;
      server = await startServer('127.0.0.1', 0, deps);
    });
    afterAll(() => server?.close());

    it.each([
      ['liveness', () => container.livenessProbe, '/healthz'],
      ['readiness', () => container.readinessProbe, '/readyz'],
      ['startup', () => container.startupProbe, '/healthz'],
    ] as const)('the %s probe gets 200 from %s without credentials, on the port hookwarden listens on', async (_, probe, path) => {
      const p = probe()!;
      expect(p.httpGet.path).toBe(path);
      expect(containerPort(p.httpGet.port)).toBe(config().listen.port);
      const r = await fetch(`${server.url}${p.httpGet.path}`);
      expect(r.status).toBe(200);
    });

    it('the Service sends its port to the container port', () => {
      expect(matches(service.spec.selector, pod.metadata.labels)).toBe(true);
      expect(service.spec.ports.length).toBeGreaterThan(0);
      for (const p of service.spec.ports) expect(containerPort(p.targetPort), p.name).toBe(config().listen.port);
    });

    it('the ServiceMonitor selects the Service, scrapes one of its ports and sends the token /metrics requires', async () => {
      expect(matches(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
      for (const e of monitor.spec.endpoints) {
        expect(service.spec.ports.map((p) => p.name)).toContain(e.port);
        expect(e.path ?? '/metrics').toBe('/metrics');
        expect(e.authorization?.type ?? 'Bearer').toBe('Bearer');
        expect(e.authorization?.credentials.name).toBe(secret.metadata.name);
        const key = e.authorization!.credentials.key;
        expect(secret.stringData[key], key).toBe(token());
        expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
        expect((await fetch(`${server.url}${e.path ?? '/metrics'}`, { headers: { authorization: `Bearer ${secret.stringData[key]}` } })).status).toBe(200);
      }
    });
  });

  it('keeps one replica up through voluntary disruptions, and lets a drain proceed', () => {
    expect(matches(pdb.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    const available = pdb.spec.minAvailable ?? deployment.spec.replicas - (pdb.spec.maxUnavailable ?? 0);
    expect(available).toBeGreaterThanOrEqual(1);
    expect(available).toBeLessThan(deployment.spec.replicas);
  });
});
