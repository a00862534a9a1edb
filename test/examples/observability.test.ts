// The operator's Grafana dashboard and Prometheus rules (examples/) against the service: every
// expression parses as PromQL, every metric it names is one a running service serves on /metrics,
// every TOCSIN_ variable it mentions is one the service reads, and the rules are valid
// (promtool check rules + their unit tests when promtool is installed, else a structure check).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configVariableNames } from '../../src/config.ts';
import { repoRoot, startTestApp, type TestApp } from '../support/test-app.ts';
import { metricNamesOf, servedMetricNames } from './promql.ts';

const dashboardPath = join(repoRoot, 'examples/grafana/tocsin.json');
const rulesPath = join(repoRoot, 'examples/prometheus/tocsin-rules.yaml');
const rulesTestPath = join(repoRoot, 'examples/prometheus/tocsin-rules.test.yaml');

type Panel = {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string; legendFormat?: string }[];
};
type Dashboard = {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
};
type Rule = {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};
type RuleFile = { groups: { name: string; rules: Rule[] }[] };

const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as Dashboard;
const rulesText = readFileSync(rulesPath, 'utf8');
const ruleFile = parseYaml(rulesText) as RuleFile;
const rules = ruleFile.groups.flatMap((group) => group.rules);
const graphs = dashboard.panels.filter((panel) => panel.type !== 'row');

/** Grafana's variables, replaced by values Prometheus would see. */
const expand = (expr: string) =>
  expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*').replaceAll('${instance}', '.*');

const promtool = spawnSync('promtool', ['--version']).error ? undefined : 'promtool';

describe('Grafana dashboard and Prometheus rules (examples/)', () => {
  let service: TestApp;
  let served: Set<string>;
  beforeAll(async () => {
    service = await startTestApp();
    served = servedMetricNames(await (await fetch(`${service.url}/metrics`)).text());
  });
  afterAll(async () => {
    await service?.close();
  });

  it('the dashboard has the panels the operator needs, each on the provisioned data source', () => {
    expect(dashboard.uid).toBe('tocsin');
    const titles = graphs.map((panel) => panel.title);
    for (const needed of [
      'Events in and rejected',
      'Consumer lag per partition',
      'Matching time',
      'Alerts by severity and status',
      'Outbox by state',
      'Webhook latency per endpoint (p95)',
      'Webhook failures per endpoint',
      'Stream clients',
      '1013 closes (clients too slow)',
      'Email sends and failures',
      'HTTP latency by route (p95)',
    ]) {
      expect(titles).toContain(needed);
    }
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    const variables = dashboard.templating.list.map((variable) => variable.name);
    expect(variables).toEqual(['datasource', 'instance']);
    for (const panel of graphs) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      expect(new Set(panel.targets!.map((target) => target.refId)).size).toBe(panel.targets!.length);
      for (const target of panel.targets!) {
        // Every query follows the instance picker.
        for (const name of metricNamesOf(expand(target.expr)).names) {
          expect(target.expr, `${panel.title}: ${name}`).toMatch(
            new RegExp(`${name}\\{instance=~"\\$instance"`),
          );
        }
      }
    }
  });

  it('every expression parses as PromQL and names only metrics the service serves', () => {
    const expressions = [
      ...graphs.flatMap((panel) =>
        panel.targets!.map((target) => ({ where: panel.title, expr: target.expr })),
      ),
      ...rules.map((rule) => ({ where: rule.alert ?? rule.record!, expr: rule.expr })),
      ...dashboard.templating.list
        .filter((variable) => variable.type === 'query')
        .map((variable) => ({
          where: `variable ${variable.name}`,
          // label_values(metric, label) is Grafana's, not PromQL: its metric is checked alone.
          expr: String((variable.query as { query: string }).query).replace(
            /^label_values\((\w+),.*\)$/,
            '$1',
          ),
        })),
    ];
    const named = new Set<string>();
    for (const { where, expr } of expressions) {
      const { names, errors } = metricNamesOf(expand(expr));
      expect(errors, `${where}: ${expr}`).toEqual([]);
      expect(names.length, `${where}: names no metric`).toBeGreaterThan(0);
      for (const name of names) {
        named.add(name);
        expect(served.has(name), `${where}: ${name} is not on /metrics`).toBe(true);
      }
    }
    // And the new metrics are on the dashboard (a metric nobody looks at is a metric nobody needs).
    for (const name of [
      'tocsin_http_request_duration_seconds_bucket',
      'tocsin_matching_seconds_bucket',
      'tocsin_stream_clients',
      'tocsin_stream_closes_total',
      'tocsin_webhook_request_duration_seconds_bucket',
      'tocsin_webhook_attempts_total',
      'tocsin_webhook_endpoint_disabled',
      'tocsin_digest_overdue_subscriptions',
    ]) {
      expect(named.has(name), name).toBe(true);
    }
  });

  it('mentions only configuration variables the service reads', () => {
    const text = [
      rulesText,
      ...graphs.map((panel) => panel.description ?? ''),
      readFileSync(rulesTestPath, 'utf8'),
    ].join('\n');
    const mentioned = new Set(text.match(/\bTOCSIN_[A-Z0-9_]+\b/g));
    expect(mentioned.size).toBeGreaterThan(0);
    for (const name of mentioned) expect(configVariableNames, name).toContain(name);
  });

  it('the rules are valid alerting rules (promtool when installed, else their structure)', () => {
    const names = rules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const alert of [
      'TocsinConsumerLagGrowing',
      'TocsinDeadDeliveries',
      'TocsinDeadLetterRate',
      'TocsinWebhookEndpointDisabled',
      'TocsinDigestOverdue',
    ]) {
      expect(names).toContain(alert);
    }
    if (promtool) {
      const check = spawnSync(promtool, ['check', 'rules', rulesPath], { encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);
      expect(check.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
      // The unit tests: each rule fires on the series it is meant for, with its annotations.
      const unit = spawnSync(promtool, ['test', 'rules', rulesTestPath], { encoding: 'utf8' });
      expect(unit.status, unit.stdout + unit.stderr).toBe(0);
      return;
    }
    console.warn(
      'promtool is not installed (apt-get install prometheus): checking the rules file structure only',
    );
    for (const group of ruleFile.groups) {
      expect(group.name).toMatch(/^tocsin-[a-z]+$/);
      for (const rule of group.rules) {
        expect(Object.keys(rule).sort()).toEqual(
          ['alert', 'annotations', 'expr', 'labels', ...(rule.for ? ['for'] : [])].sort(),
        );
        expect(rule.alert).toMatch(/^Tocsin[A-Za-z]+$/);
        if (rule.for) expect(rule.for).toMatch(/^\d+[smh]$/);
        expect(['info', 'warning', 'critical']).toContain(rule.labels?.severity);
        expect(Object.keys(rule.annotations ?? {}).sort()).toEqual(['description', 'summary']);
      }
    }
  });
});
