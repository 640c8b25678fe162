import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { REQUIRED_NODE_MAJOR } from '../../kernel/runtime.js';

/**
 * Static checks of docker-compose.yml, .env.example and the Dockerfile: what `docker
 * compose config` cannot tell (pinned images, ports, paths in this repo, variables the
 * services really read).
 */
const ROOT = process.cwd();
const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');

const Healthcheck = z.strictObject({
  test: z.array(z.string()).min(2),
  interval: z.string(),
  timeout: z.string(),
  retries: z.number().int().positive(),
  start_period: z.string().optional(),
});
const Service = z
  .strictObject({
    image: z.string().optional(),
    build: z.strictObject({ context: z.string(), dockerfile: z.string() }).optional(),
    command: z.array(z.string()).optional(),
    entrypoint: z.array(z.string()).optional(),
    restart: z.enum(['no', 'always', 'unless-stopped', 'on-failure']),
    depends_on: z
      .record(z.string(), z.strictObject({ condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']) }))
      .optional(),
    environment: z.record(z.string(), z.string()).optional(),
    volumes: z.array(z.string()).optional(),
    ports: z.array(z.string()).optional(),
    healthcheck: Healthcheck.optional(),
  })
  .refine((s) => s.image !== undefined || s.build !== undefined, { message: 'needs an image or a build' });
const Compose = z.strictObject({
  name: z.string(),
  services: z.record(z.string(), Service),
  volumes: z.record(z.string(), z.null()),
});

const compose = Compose.parse(parse(composeText));
const services = Object.entries(compose.services);
const built = services.filter(([, s]) => s.build);
/** The hub's own services: built from this repo, run as `node dist/<name>/main.js`. */
const HUB_SERVICES = ['broker', 'ingest', 'api'];

const envExample = new Map(
  readFileSync(join(ROOT, '.env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
);

describe('docker-compose.yml', () => {
  it('builds from this repo or uses pinned image tags', () => {
    for (const [name, s] of services) {
      if (s.build) {
        expect(s.build.context, name).toBe('.');
        expect(existsSync(join(ROOT, s.build.dockerfile)), `${name}: ${s.build.dockerfile}`).toBe(true);
      } else {
        const tag = /^[^:@]+(?::([^@]+))?$/.exec(s.image ?? '')?.[1];
        expect(tag && tag !== 'latest' && /\d/.test(tag), `${name}: image ${s.image} needs a pinned version tag`).toBeTruthy();
      }
    }
    expect(built.map(([n]) => n).sort()).toEqual([...HUB_SERVICES].sort());
  });

  it('runs each hub service from its entry point, which must exist in the source', () => {
    const missing: string[] = [];
    for (const [name, s] of built) {
      expect(s.command?.at(-1), name).toBe(`dist/${name}/main.js`);
      expect(s.command?.[0], name).toBe('node');
      if (!existsSync(join(ROOT, name, 'main.ts'))) missing.push(`${name}/main.ts`);
    }
    // Fails until the entry points are written; the message says which are missing.
    expect(missing, `entry points missing: ${missing.join(', ')}`).toEqual([]);
  });

  it('gives each hub service only variables its config.ts reads', () => {
    const unread: string[] = [];
    for (const [name, s] of built) {
      const config = join(ROOT, name, 'config.ts');
      const own = existsSync(config) ? readFileSync(config, 'utf8') : '';
      // Variables several services share are parsed in service/ modules their config.ts spreads in (service/tls-config.ts).
      const shared = [...own.matchAll(/from '\.\.\/service\/([a-z-]+)\.js'/g)].map((m) => readFileSync(join(ROOT, 'service', `${m[1]}.ts`), 'utf8'));
      const source = [own, ...shared].join('\n');
      for (const key of Object.keys(s.environment ?? {})) if (!new RegExp(`\\b${key}\\b`).test(source)) unread.push(`${name}: ${key}`);
    }
    expect(unread, `not read by <service>/config.ts:\n  ${unread.join('\n  ')}`).toEqual([]);
  });

  it('publishes each host port once', () => {
    const ports = services.flatMap(([, s]) => (s.ports ?? []).map((p) => p.split(':').slice(0, -1).join(':')));
    expect(ports.length).toBeGreaterThan(0);
    expect(new Set(ports.map((p) => p.split(':').pop())).size).toBe(ports.length);
  });

  it('bind-mounts only paths that exist in the repo, and declares every named volume', () => {
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) {
          expect(source.startsWith('./'), `${name}: ${v} must be relative to the repo`).toBe(true);
          expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true);
        } else {
          expect(compose.volumes, `${name}: volume ${source}`).toHaveProperty(source);
        }
      }
    }
  });

  it('mounts the Grafana provisioning and the dashboards where the provider looks', () => {
    const grafana = compose.services.grafana?.volumes ?? [];
    expect(grafana).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(grafana).toContain('./grafana/dashboards:/var/lib/grafana/dashboards:ro');
  });

  it('uses only ${VARS} that .env.example defines, and .env.example holds no secrets', () => {
    // Values only (compose does not interpolate comments); $$ is an escaped, literal $.
    const used = stringsIn(parse(composeText)).flatMap((v) => [...v.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}/g)].map((m) => m[1]!));
    expect(used.length).toBeGreaterThan(0);
    expect([...new Set(used)].filter((v) => !envExample.has(v))).toEqual([]);
    for (const [key, value] of envExample) {
      if (/PASSWORD|TOKEN|SECRET/.test(key)) expect(value, key).toBe('CHANGE_ME');
    }
  });

  it('has a healthcheck on every long-running service; one-shot jobs gate their dependants', () => {
    for (const [name, s] of services) {
      if (s.restart === 'no') {
        const gated = services.some(([, o]) => o.depends_on?.[name]?.condition === 'service_completed_successfully');
        expect(gated, `${name} is one-shot; something should wait for it`).toBe(true);
      } else expect(s.healthcheck, `${name}: healthcheck`).toBeDefined();
      for (const dep of Object.keys(s.depends_on ?? {})) expect(compose.services, `${name} depends on ${dep}`).toHaveProperty(dep);
    }
  });

  it('initialises InfluxDB from the environment and maps a database for InfluxQL', () => {
    const env = compose.services.influxdb?.environment ?? {};
    expect(env.DOCKER_INFLUXDB_INIT_MODE).toBe('setup');
    expect(env.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN).toBe('${INFLUX_TOKEN}');
    expect(compose.services['influxdb-dbrp']?.command?.join('\n')).toMatch(/influx v1 dbrp create/);
  });

  it("gives Grafana its own bucket, database and read-only user, never the hub's bucket or the operator token", () => {
    expect(envExample.get('INFLUX_GRAFANA_BUCKET')).toBeTruthy();
    expect(envExample.get('INFLUX_GRAFANA_BUCKET')).not.toBe(envExample.get('INFLUX_BUCKET'));
    expect(envExample.get('INFLUX_GRAFANA_DATABASE')).toBeTruthy();
    expect(envExample.get('INFLUX_GRAFANA_DATABASE')).not.toBe(envExample.get('INFLUX_DATABASE'));

    const grafana = compose.services.grafana?.environment ?? {};
    expect(grafana.INFLUX_GRAFANA_DATABASE).toBe('${INFLUX_GRAFANA_DATABASE}');
    expect(grafana.INFLUX_GRAFANA_USER).toBe('${INFLUX_GRAFANA_USER}');
    expect(grafana.INFLUX_GRAFANA_PASSWORD).toBe('${INFLUX_GRAFANA_PASSWORD}');
    expect(Object.values(grafana).filter((v) => /INFLUX_(TOKEN|BUCKET|DATABASE)\}/.test(v))).toEqual([]);
    // Every ${VAR} the datasource provisioning expands is one Grafana's container has.
    const datasource = readFileSync(join(ROOT, 'grafana/provisioning/datasources/influxdb.yaml'), 'utf8').replace(/^\s*#.*$/gm, '');
    const refs = [...datasource.matchAll(/\$\{([A-Z][A-Z0-9_]*)\}/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((v) => !(v in grafana))).toEqual([]);

    const job = compose.services['influxdb-dbrp'];
    const script = job?.command?.join('\n') ?? '';
    expect(script).toMatch(/influx bucket create --name "\$\$INFLUX_GRAFANA_BUCKET"/);
    expect(script).toMatch(/map "\$\$INFLUX_GRAFANA_DATABASE"/);
    const auth = script.split('\n').find((l) => l.includes('influx v1 auth create')) ?? '';
    expect(auth).toMatch(/--read-bucket "\$\$grafana_id"/);
    expect(auth).not.toMatch(/--write-bucket/);
    expect(job?.environment?.INFLUX_GRAFANA_PASSWORD).toBe('${INFLUX_GRAFANA_PASSWORD}');

    // The api fills that bucket (stores/influx/grafana-mirror.ts).
    const api = compose.services.api?.environment ?? {};
    expect(api.INFLUX_GRAFANA_BUCKET).toBe('${INFLUX_GRAFANA_BUCKET}');
    expect(api.INFLUX_GRAFANA_DATABASE).toBe('${INFLUX_GRAFANA_DATABASE}');
  });
});

describe('docker-compose.yml: TLS on, plain off', () => {
  const env = (name: string) => compose.services[name]?.environment ?? {};
  const published = (name: string) => (compose.services[name]?.ports ?? []).map((p) => Number(p.split(':').pop()));
  const mounted = (name: string, dir: string) =>
    (compose.services[name]?.volumes ?? []).find((v) => v.split(':')[1] === dir && v.endsWith(':ro'))?.split(':')[0];

  it('serves MQTT over TLS and secure WebSocket from certificate files in a read-only volume, and runs no plain listener', () => {
    const broker = env('broker');
    expect(broker.TLS_CERT_FILE).toMatch(/^\/certs\//);
    expect(broker.TLS_KEY_FILE).toMatch(/^\/certs\//);
    const volume = mounted('broker', '/certs');
    expect(compose.volumes, 'the certificate volume').toHaveProperty(volume ?? '(none)');
    expect(published('broker').sort()).toEqual([Number(broker.MQTT_TLS_PORT), Number(broker.MQTT_WSS_PORT)].sort());
    // Off, the broker opens neither MQTT_PORT nor MQTT_WS_PORT (broker/config.ts listenOptions), so neither is set.
    expect(broker.MQTT_PLAIN).toBe('off');
    expect(broker).not.toHaveProperty('MQTT_PORT');
    expect(broker).not.toHaveProperty('MQTT_WS_PORT');
    expect(broker.MQTT_DEVICE_CA_FILE).toBe('${MQTT_DEVICE_CA_FILE}');
    const health = compose.services.broker?.healthcheck?.test.join(' ') ?? '';
    expect(health).toContain(`connect(${broker.MQTT_TLS_PORT},`);
  });

  it('connects every service that reaches the broker over TLS, to its TLS port, with a CA and the name its certificate carries', () => {
    const clients = HUB_SERVICES.filter((name) => env(name).MQTT_HOST === 'broker');
    expect(clients.sort()).toEqual(['api', 'ingest']);
    for (const name of clients) {
      const e = env(name);
      expect(e, name).not.toHaveProperty('MQTT_PORT');
      expect(e.MQTT_TLS_PORT, name).toBe(env('broker').MQTT_TLS_PORT);
      expect(e.MQTT_TLS_CA_FILE, name).toMatch(/^\/certs\/.+/);
      // The certificate names the public host, not the compose service name.
      expect(e.MQTT_TLS_SERVER_NAME, name).toBe('${TLS_SERVER_NAME}');
      expect(mounted(name, '/certs'), name).toBe(mounted('broker', '/certs'));
    }
    expect(envExample.get('TLS_SERVER_NAME')).toMatch(/^[a-z0-9.-]+$/);
  });

  it('names in every file variable a path inside a volume that service mounts', () => {
    const unmounted: string[] = [];
    for (const [name, s] of services) {
      const targets = (s.volumes ?? []).map((v) => v.split(':')[1]!);
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (!key.endsWith('_FILE')) continue;
        // A ${VAR} from .env: the path .env.example's comment suggests must be mounted too.
        const paths = value.startsWith('${') ? [...(exampleComment(value.slice(2, -1)).match(/\/[\w./-]+/g) ?? [])] : [value];
        for (const path of paths) if (!targets.some((t) => path.startsWith(`${t}/`))) unmounted.push(`${name}: ${key}=${path}`);
      }
    }
    expect(unmounted).toEqual([]);
  });

  it('serves the API over HTTPS only, from the same volume, and checks its health over HTTPS', () => {
    const api = env('api');
    expect(api.TLS_CERT_FILE).toBe(env('broker').TLS_CERT_FILE);
    expect(api.TLS_KEY_FILE).toBe(env('broker').TLS_KEY_FILE);
    expect(mounted('api', '/certs')).toBe(mounted('broker', '/certs'));
    expect(published('api')).toEqual([Number(api.API_PORT)]);
    const health = compose.services.api?.healthcheck?.test.join(' ') ?? '';
    expect(health).toMatch(/node:https/);
    expect(health).toContain(`port: ${api.API_PORT}`);
  });

  it('publishes nothing of ingest, which the devices never reach', () => {
    expect(published('ingest')).toEqual([]);
  });
});

/** The comment lines just above `key` in .env.example. */
function exampleComment(key: string): string {
  const lines = readFileSync(join(ROOT, '.env.example'), 'utf8').split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${key}=`));
  const comment: string[] = [];
  for (let i = at - 1; i >= 0 && lines[i]!.startsWith('#'); i--) comment.unshift(lines[i]!);
  return comment.join('\n');
}

function stringsIn(x: unknown): string[] {
  if (typeof x === 'string') return [x];
  if (Array.isArray(x)) return x.flatMap(stringsIn);
  if (x && typeof x === 'object') return Object.entries(x).flatMap(([k, v]) => [k, ...stringsIn(v)]);
  return [];
}

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  it('builds with npm ci and the build script, and runs as a non-root user', () => {
    expect(dockerfile).toMatch(/RUN npm ci\b/);
    expect(dockerfile).toMatch(/npm run build/);
    const user = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].pop()?.[1];
    expect(user && user !== 'root' && user !== '0').toBeTruthy();
  });

  it('runs on the one Node.js line the hub requires, as do engines, @types/node and the runtime npm ci installs', () => {
    const bases = [...dockerfile.matchAll(/^FROM node:(\d+)-slim\b/gm)].map((m) => Number(m[1]));
    expect(bases.length).toBe([...dockerfile.matchAll(/^FROM /gm)].length);
    expect(new Set(bases)).toEqual(new Set([REQUIRED_NODE_MAJOR]));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.engines.node).toBe(`>=${REQUIRED_NODE_MAJOR}`);
    expect(pkg.devDependencies['@types/node'].split('.')[0]).toBe(String(REQUIRED_NODE_MAJOR));
    expect(pkg.devDependencies.node.split('.')[0]).toBe(String(REQUIRED_NODE_MAJOR));
    // The suite itself runs on it (npm puts node_modules/.bin first on the PATH of its scripts).
    expect(Number(process.versions.node.split('.')[0])).toBe(REQUIRED_NODE_MAJOR);
  });
});
