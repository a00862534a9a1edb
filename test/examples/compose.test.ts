// compose.yaml against the service, without a Docker engine: the Tocsin services set only
// variables Tocsin reads and their configuration loads; every URL, broker address, published
// port, healthcheck and Prometheus target points at a service on a port it listens on; every
// mounted file exists in the repository; every depends_on target has a healthcheck.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configVariableNames, loadConfig } from '../../src/config.ts';
import { repoRoot } from '../support/test-app.ts';

type Service = {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string | number | boolean>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }> | string[];
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

const composeText = readFileSync(join(repoRoot, 'compose.yaml'), 'utf8');
// Compose resolves YAML merge keys (`<<: *tocsin`), as YAML 1.1 does.
const readCompose = (): Compose => parseYaml(composeText, { merge: true }) as Compose;

/** `${NAME:-default}` / `${NAME-default}` as compose interpolates them with NAME unset; `$$` is a `$`. */
function interpolate(value: string): string {
  return value
    .replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g,
      (_all, _name, fallback?: string) => fallback ?? '',
    )
    .replaceAll('$$', '$');
}

function environmentOf(service: Service): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([name, value]) => [name, interpolate(String(value))]),
  );
}

/** The final stage's ENV of the Dockerfile: what a Tocsin container has before compose adds its own. */
function dockerfileEnvironment(): Record<string, string> {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m);
  const env: Record<string, string> = {};
  for (const line of stages
    .at(-1)!
    .split('\n')
    .filter((l) => l.startsWith('ENV '))) {
    for (const match of line.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[match[1]!] = match[2]!;
  }
  return env;
}

const isTocsin = (service: Service) => service.build !== undefined;
const flag = (command: string[] | undefined, name: string) =>
  command?.find((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1);
const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

/**
 * The ports a service listens on, from its own settings (never from knowledge of an image's
 * defaults, so the file must say them): undefined when they cannot be read.
 */
function listenPorts(service: Service): Set<number> | undefined {
  const env = environmentOf(service);
  const image = service.image ?? '';
  if (isTocsin(service)) return new Set([Number(env.PORT ?? dockerfileEnvironment().PORT)]);
  if (image.startsWith('apache/kafka'))
    return new Set((env.KAFKA_LISTENERS ?? '').split(',').map((listener) => portOf(listener)));
  if (image.startsWith('postgres') && env.PGPORT) return new Set([Number(env.PGPORT)]);
  if (image.includes('mailpit') && env.MP_SMTP_BIND_ADDR && env.MP_UI_BIND_ADDR)
    return new Set([portOf(env.MP_SMTP_BIND_ADDR), portOf(env.MP_UI_BIND_ADDR)]);
  const prometheus = flag(service.command, '--web.listen-address');
  if (image.includes('prometheus') && prometheus) return new Set([portOf(prometheus)]);
  if (image.includes('grafana') && env.GF_SERVER_HTTP_PORT) return new Set([Number(env.GF_SERVER_HTTP_PORT)]);
  return undefined;
}

/** `./host/path:/container/path[:ro]` mounts of a service, with the host path inside the repository. */
function mounts(service: Service): { source: string; target: string }[] {
  return (service.volumes ?? [])
    .map((volume) => volume.split(':'))
    .filter(([source]) => source!.startsWith('./'))
    .map(([source, target]) => ({ source: join(repoRoot, source!), target: target! }));
}

/** The repository file behind a path inside a container (a file mount, or a file in a mounted folder). */
function hostPathOf(service: Service, containerPath: string): string | undefined {
  for (const { source, target } of mounts(service)) {
    if (containerPath === target) return source;
    if (containerPath.startsWith(`${target}/`)) return join(source, posix.relative(target, containerPath));
  }
  return undefined;
}

/** Every inconsistency found, one line each; the real file must give none. */
function composeProblems(compose: Compose): string[] {
  const problems: string[] = [];
  const { services } = compose;
  const names = Object.keys(services);
  const tocsins = names.filter((name) => isTocsin(services[name]!));
  if (tocsins.length < 2) problems.push(`a cluster needs two Tocsin services, found ${tocsins.length}`);
  const known = new Set(configVariableNames);

  /** `host:port` must be a service of this file listening on that port. */
  const reaches = (where: string, host: string, port: number) => {
    const target = services[host];
    if (!target) return problems.push(`${where}: no service named ${host}`);
    const ports = listenPorts(target);
    if (!ports?.has(port))
      problems.push(
        `${where}: ${host} does not listen on ${port} (it listens on ${[...(ports ?? [])].join(', ') || 'nothing known'})`,
      );
  };

  for (const name of names) {
    const service = services[name]!;
    const ports = listenPorts(service);
    if (!ports) {
      problems.push(`${name}: its listening ports are not set in the file`);
      continue;
    }
    for (const mapping of service.ports ?? []) {
      const container = Number(mapping.split(':').at(-1));
      if (!ports.has(container))
        problems.push(`${name}: publishes ${mapping}, but listens on ${[...ports].join(', ')}`);
    }
    const check = service.healthcheck?.test;
    // A `: ` in an unquoted item turns it into a mapping, which compose refuses.
    if (Array.isArray(check) && check.some((arg) => typeof arg !== 'string'))
      problems.push(`${name}: a healthcheck argument is not a string (quote it)`);
    const checkText = Array.isArray(check) ? check.join(' ') : (check ?? '');
    for (const match of checkText.matchAll(/(?:127\.0\.0\.1|localhost):(\d+)/g)) {
      if (!ports.has(Number(match[1]))) problems.push(`${name}: the healthcheck asks port ${match[1]}`);
    }
    const pgPort = checkText.match(/pg_isready.*-p (\d+)/)?.[1];
    if (pgPort && !ports.has(Number(pgPort))) problems.push(`${name}: pg_isready asks port ${pgPort}`);
    for (const { source } of mounts(service)) {
      if (!existsSync(source)) problems.push(`${name}: mounts ${source}, which is not in the repository`);
    }
    const dependsOn = Array.isArray(service.depends_on)
      ? Object.fromEntries(service.depends_on.map((target) => [target, { condition: 'service_started' }]))
      : (service.depends_on ?? {});
    for (const [target, { condition }] of Object.entries(dependsOn)) {
      if (!services[target]) problems.push(`${name}: depends on ${target}, which is not a service`);
      else if (!services[target]!.healthcheck)
        problems.push(`${name}: depends on ${target}, which has no healthcheck`);
      if (condition !== 'service_healthy') problems.push(`${name}: depends on ${target} with ${condition}`);
    }
  }

  for (const name of tocsins) {
    const service = services[name]!;
    const env = environmentOf(service);
    for (const variable of Object.keys(env)) {
      if (!known.has(variable)) problems.push(`${name}: ${variable} is not a variable Tocsin reads`);
    }
    const dockerEnv = dockerfileEnvironment();
    try {
      loadConfig({ ...dockerEnv, ...env }, repoRoot);
    } catch (error) {
      problems.push(`${name}: the configuration does not load: ${(error as Error).message}`);
    }
    if (env.DATABASE_URL) {
      const url = new URL(env.DATABASE_URL);
      reaches(`${name} DATABASE_URL`, url.hostname, Number(url.port || 5432));
      const db = services[url.hostname] && environmentOf(services[url.hostname]!);
      if (
        db &&
        (db.POSTGRES_USER !== url.username ||
          db.POSTGRES_PASSWORD !== url.password ||
          db.POSTGRES_DB !== url.pathname.slice(1))
      )
        problems.push(
          `${name}: DATABASE_URL's user, password or database is not the ${url.hostname} service's`,
        );
    } else problems.push(`${name}: no DATABASE_URL (a cluster shares PostgreSQL)`);
    for (const broker of (env.KAFKA_BROKERS ?? '').split(',').filter(Boolean)) {
      const host = broker.slice(0, broker.lastIndexOf(':'));
      const port = portOf(broker);
      reaches(`${name} KAFKA_BROKERS`, host, port);
      const advertised = environmentOf(services[host] ?? {}).KAFKA_ADVERTISED_LISTENERS ?? '';
      if (!advertised.split(',').some((listener) => listener.endsWith(`://${host}:${port}`)))
        problems.push(`${name}: ${broker} is not an advertised listener of ${host} (${advertised})`);
    }
    if (env.SMTP_URL) {
      const url = new URL(env.SMTP_URL);
      reaches(`${name} SMTP_URL`, url.hostname, Number(url.port));
    }
    const published = (service.ports ?? []).map((mapping) => Number(mapping.split(':')[0]));
    if (env.TOCSIN_PUBLIC_URL && !published.includes(Number(new URL(env.TOCSIN_PUBLIC_URL).port)))
      problems.push(`${name}: TOCSIN_PUBLIC_URL ${env.TOCSIN_PUBLIC_URL} is not a port it publishes`);
  }
  const shared = ['TOCSIN_SECRET', 'DATABASE_URL', 'KAFKA_GROUP_ID', 'KAFKA_TOPIC'];
  for (const variable of shared) {
    const values = new Set(tocsins.map((name) => environmentOf(services[name]!)[variable]));
    if (values.size !== 1) problems.push(`the Tocsin services do not share one ${variable}`);
  }

  const prometheusName = names.find((name) => services[name]!.image?.includes('prometheus'));
  const prometheus = prometheusName ? services[prometheusName]! : undefined;
  if (!prometheus) problems.push('no Prometheus service');
  else {
    const configPath = hostPathOf(
      prometheus,
      flag(prometheus.command, '--config.file') ?? '/etc/prometheus/prometheus.yml',
    );
    if (!configPath || !existsSync(configPath))
      problems.push('prometheus: its configuration file is not mounted from the repository');
    else {
      const config = parseYaml(readFileSync(configPath, 'utf8')) as {
        rule_files?: string[];
        scrape_configs: { static_configs: { targets: string[] }[] }[];
      };
      const targets = config.scrape_configs.flatMap((job) =>
        job.static_configs.flatMap((group) => group.targets),
      );
      const expected = tocsins.map((name) => `${name}:${[...listenPorts(services[name]!)!][0]}`);
      if (JSON.stringify([...targets].sort()) !== JSON.stringify([...expected].sort()))
        problems.push(
          `prometheus: scrapes ${targets.join(', ')}, the Tocsin services are ${expected.join(', ')}`,
        );
      for (const target of targets) reaches('prometheus target', target.split(':')[0]!, portOf(target));
      const ruleFiles = (config.rule_files ?? []).map((path) => hostPathOf(prometheus, path));
      if (!ruleFiles.includes(join(repoRoot, 'examples/prometheus/tocsin-rules.yaml')))
        problems.push('prometheus: examples/prometheus/tocsin-rules.yaml is not a loaded rule file');
    }
  }

  const grafana = Object.values(services).find((service) => service.image?.includes('grafana'));
  if (!grafana) problems.push('no Grafana service');
  else {
    const provisioned = (kind: string) =>
      mounts(grafana)
        .filter(({ target }) => target.startsWith(`/etc/grafana/provisioning/${kind}/`))
        .map(({ source }) => parseYaml(readFileSync(source, 'utf8')));
    const datasources = provisioned('datasources').flatMap(
      (file) => file.datasources as { type: string; url: string }[],
    );
    const source = datasources.find((datasource) => datasource.type === 'prometheus');
    if (!source) problems.push('grafana: no Prometheus data source provisioned');
    else {
      const url = new URL(source.url);
      reaches('grafana data source', url.hostname, Number(url.port));
    }
    const folders = provisioned('dashboards').flatMap((file) =>
      (file.providers as { options: { path: string } }[]).map((provider) => provider.options.path),
    );
    const dashboards = folders.map((path) => hostPathOf(grafana, path));
    if (!dashboards.some((dir) => dir && statSync(dir).isDirectory() && existsSync(join(dir, 'tocsin.json'))))
      problems.push('grafana: no dashboard provider loads examples/grafana/tocsin.json');
  }
  return problems;
}

describe('compose.yaml', () => {
  it('is consistent with the service configuration, its ports, its mounts and its healthchecks', () => {
    expect(composeProblems(readCompose())).toEqual([]);
  });

  it('has Kafka, PostgreSQL, two Tocsin instances, an SMTP sink, Prometheus and Grafana', () => {
    const { services } = readCompose();
    const images = Object.values(services).map((service) => service.image ?? 'build');
    expect(images.filter((image) => image === 'build')).toHaveLength(2);
    for (const image of ['apache/kafka', 'postgres', 'axllent/mailpit', 'prom/prometheus', 'grafana/grafana'])
      expect(
        images.some((name) => name.startsWith(`${image}:`)),
        image,
      ).toBe(true);
    expect(environmentOf(services.kafka!).KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(existsSync(join(repoRoot, 'Dockerfile'))).toBe(true);
  });

  // The checks above can fail: each broken copy of the file is caught, naming what is wrong.
  it.each<[string, (compose: Compose) => void, RegExp]>([
    [
      'an unknown variable',
      (c) => {
        c.services['tocsin-1']!.environment!.TOCSIN_FOO = 'x';
      },
      /TOCSIN_FOO is not a variable Tocsin reads/,
    ],
    [
      'a bad value',
      (c) => {
        c.services['tocsin-2']!.environment!.TOCSIN_KAFKA_TOPIC_PARTITIONS = 'many';
      },
      /tocsin-2: the configuration does not load/,
    ],
    [
      'the controller port as broker',
      (c) => {
        c.services['tocsin-1']!.environment!.KAFKA_BROKERS = 'kafka:9093';
      },
      /kafka:9093 is not an advertised listener/,
    ],
    [
      'a database host that does not exist',
      (c) => {
        c.services['tocsin-1']!.environment!.DATABASE_URL = 'postgres://tocsin:tocsin@db:5432/tocsin';
      },
      /no service named db/,
    ],
    [
      'the wrong SMTP port',
      (c) => {
        c.services['tocsin-1']!.environment!.SMTP_URL = 'smtp://mailpit:25';
      },
      /mailpit does not listen on 25/,
    ],
    [
      'a published port nobody listens on',
      (c) => {
        c.services['tocsin-2']!.ports = ['8082:9999'];
      },
      /publishes 8082:9999/,
    ],
    [
      'a dependency without healthcheck',
      (c) => {
        delete c.services.mailpit!.healthcheck;
      },
      /depends on mailpit, which has no healthcheck/,
    ],
    [
      'a mount missing from the repository',
      (c) => {
        c.services.prometheus!.volumes![1] =
          './examples/prometheus/nope.yaml:/etc/prometheus/rules/tocsin-rules.yaml:ro';
      },
      /nope.yaml, which is not in the repository/,
    ],
    [
      'a Tocsin instance not scraped',
      (c) => {
        c.services['tocsin-3'] = structuredClone(c.services['tocsin-2']!);
      },
      /the Tocsin services are .*tocsin-3:8080/,
    ],
  ])('catches %s', (_what, breakIt, problem) => {
    const compose = readCompose();
    breakIt(compose);
    expect(composeProblems(compose).join('\n')).toMatch(problem);
  });
});
