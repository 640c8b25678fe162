import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CollectionTag, parse, YAMLMap, YAMLSeq } from 'yaml';

/**
 * docker-compose.scaled.yml, merged into docker-compose.yml as compose merges an override
 * file (the compose specification's "Merge and override": mappings by key, `volumes` by
 * target, other sequences appended, `!reset` and `!override` replace, `extends` copies the
 * named service first), then checked as a whole: the brokers share Redis behind HAProxy,
 * every MQTT client goes through the balancer, the ingest workers are distinct.
 */
const ROOT = process.cwd();

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Service = Record<string, Json>;
interface Model {
  services: Record<string, Service>;
  volumes: Record<string, Json>;
}

/** `!reset` and `!override` kept as { '!reset': value } so the merge can see them. */
const TAGS: CollectionTag[] = ['!reset', '!override'].map((tag) => ({
  tag,
  collection: 'seq',
  nodeClass: YAMLSeq,
  resolve: (seq) => {
    const marked = new YAMLMap();
    marked.set(tag, seq);
    return marked;
  },
}));
const load = (file: string): Model => parse(readFileSync(join(ROOT, file), 'utf8'), { customTags: TAGS }) as Model;

const isMap = (v: Json | undefined): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);
const tagged = (v: Json): Json | undefined => (isMap(v) ? (v['!reset'] ?? v['!override']) : undefined);
const target = (volume: Json): string => String(volume).split(':')[1] ?? String(volume);

function mergeValue(key: string, base: Json | undefined, over: Json): Json {
  const replaced = tagged(over);
  if (replaced !== undefined) return replaced;
  if (isMap(base) && isMap(over)) {
    const out: { [k: string]: Json } = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = mergeValue(k, base[k], v);
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over)) {
    // command and entrypoint are replaced whole; volumes are unique by their target.
    if (key === 'command' || key === 'entrypoint') return over;
    if (key === 'volumes') return [...base.filter((b) => !over.some((o) => target(o) === target(b))), ...over];
    return [...base, ...over.filter((o) => !base.includes(o))];
  }
  return over;
}

function merged(baseFile: string, overrideFile: string): Model {
  const base = load(baseFile);
  const over = load(overrideFile);
  const services: Record<string, Service> = structuredClone(base.services);
  for (const [name, s] of Object.entries(over.services)) {
    const { extends: ext, ...rest } = s;
    let start: Service = services[name] ?? {};
    if (isMap(ext)) start = structuredClone(load(String(ext.file ?? overrideFile)).services[String(ext.service)]!);
    services[name] = mergeValue('', start, rest) as Service;
  }
  return { services, volumes: { ...base.volumes, ...over.volumes } };
}

const model = merged('docker-compose.yml', 'docker-compose.scaled.yml');
const svc = (name: string): Service => model.services[name] ?? {};
const env = (name: string): Record<string, string> => (svc(name).environment ?? {}) as Record<string, string>;
const list = (name: string, key: string): string[] => ((svc(name)[key] ?? []) as Json[]).map(String);
const published = (name: string): number[] => list(name, 'ports').map((p) => Number(p.split(':').pop()));
const dependsOn = (name: string): Record<string, { condition: string }> => (svc(name).depends_on ?? {}) as Record<string, { condition: string }>;
const runs = (name: string): string => String((svc(name).command as Json[] | undefined)?.at(-1) ?? '');
const haproxyCfg = readFileSync(join(ROOT, 'haproxy/haproxy.cfg'), 'utf8');

describe('docker-compose.scaled.yml merged into docker-compose.yml', () => {
  it('runs several brokers on one Redis that writes every change to disk before it answers, and publishes no broker port', () => {
    const broker = env('broker');
    expect(broker.BROKER_STATE).toBe('redis');
    const redis = /^redis:\/\/([a-z0-9-]+):(\d+)$/.exec(broker.BROKER_REDIS_URL ?? '');
    expect(redis?.[1]).toBe('redis');
    expect(model.services).toHaveProperty('redis');
    expect(dependsOn('broker').redis?.condition).toBe('service_healthy');
    expect(Number((svc('broker').deploy as { replicas?: number } | undefined)?.replicas)).toBeGreaterThanOrEqual(2);
    expect(published('broker')).toEqual([]);
    const command = list('redis', 'command').join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--appendfsync always');
    expect(list('redis', 'volumes').map(target)).toContain('/data');
  });

  it("puts HAProxy in front of the brokers, on the brokers' TLS ports, passing TLS through to them", () => {
    const broker = env('broker');
    const ports = [Number(broker.MQTT_TLS_PORT), Number(broker.MQTT_WSS_PORT)];
    expect(published('mqtt-lb').sort()).toEqual([...ports].sort());
    const mount = list('mqtt-lb', 'volumes').find((v) => v.startsWith('./haproxy/'));
    expect(mount?.split(':')[0]).toBe('./haproxy/haproxy.cfg');
    expect(existsSync(join(ROOT, 'haproxy/haproxy.cfg'))).toBe(true);
    for (const port of ports) {
      expect(haproxyCfg).toMatch(new RegExp(`^\\s*bind :${port}$`, 'm'));
      expect(haproxyCfg).toMatch(new RegExp(`^\\s*server-template \\S+ \\d+ broker:${port} `, 'm'));
    }
    expect(haproxyCfg).toMatch(/^\s*mode tcp$/m); // TLS is the brokers' to end
    expect(dependsOn('mqtt-lb').broker?.condition).toBe('service_healthy');
  });

  it('is a configuration HAProxy itself accepts', () => {
    if (spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0) throw new Error('haproxy is not installed: run `bash tests/setup/ensure-packages.sh`');
    const check = spawnSync('haproxy', ['-c', '-f', 'haproxy/haproxy.cfg'], { encoding: 'utf8' });
    expect(check.status, check.stderr + check.stdout).toBe(0);
  });

  it('sends every MQTT client of the hub through the balancer, over TLS with the certificate checked', () => {
    const clients = Object.keys(model.services).filter((name) => env(name).MQTT_HOST !== undefined && name !== 'broker');
    expect(clients.sort()).toEqual(['api', 'ingest', 'ingest-2']);
    for (const name of clients) {
      expect(env(name).MQTT_HOST, name).toBe('mqtt-lb');
      expect(dependsOn(name)['mqtt-lb']?.condition, name).toBe('service_healthy');
      expect(env(name).MQTT_TLS_PORT, name).toBe(env('broker').MQTT_TLS_PORT);
      expect(env(name).MQTT_TLS_CA_FILE, name).toMatch(/^\/certs\//);
      expect(env(name).MQTT_TLS_SERVER_NAME, name).toBe('${TLS_SERVER_NAME}');
    }
  });

  it('runs ingest workers with names and data folders of their own, and variables ingest reads', () => {
    const workers = Object.keys(model.services).filter((name) => runs(name) === 'dist/ingest/main.js');
    expect(workers.length).toBeGreaterThanOrEqual(2);
    const ids = workers.map((w) => env(w).INGEST_WORKER_ID);
    expect(ids.every((id) => id && /^[A-Za-z0-9._-]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(workers.length);
    const dataVolumes = workers.map(
      (w) =>
        list(w, 'volumes')
          .find((v) => target(v) === '/data')
          ?.split(':')[0],
    );
    expect(new Set(dataVolumes).size).toBe(workers.length);
    const reads = readFileSync(join(ROOT, 'ingest/config.ts'), 'utf8');
    for (const key of ['INGEST_WORKER_ID']) expect(reads).toMatch(new RegExp(`\\b${key}\\b`));
    expect(readFileSync(join(ROOT, 'broker/config.ts'), 'utf8')).toMatch(/\bBROKER_REDIS_URL\b/);
  });

  it('declares every named volume, names existing services as dependencies, and gives every long-running service a healthcheck', () => {
    for (const [name, s] of Object.entries(model.services)) {
      for (const v of list(name, 'volumes')) {
        const source = v.split(':')[0]!;
        if (!source.startsWith('.')) expect(model.volumes, `${name}: ${source}`).toHaveProperty(source);
      }
      for (const dep of Object.keys(dependsOn(name))) expect(model.services, `${name} depends on ${dep}`).toHaveProperty(dep);
      if (s.restart !== 'no') expect(s.healthcheck, `${name}: healthcheck`).toBeDefined();
    }
    const ports = Object.keys(model.services).flatMap(published);
    expect(new Set(ports).size).toBe(ports.length);
  });
});
