// PromQL and the exposition format, read with real parsers: the Prometheus project's own Lezer
// grammar for expressions (what its UI uses), and the service's own /metrics text.
import { parser } from '@prometheus-io/lezer-promql';

/** The metric names an expression selects, and the parse errors (with their position), if any. */
export function metricNamesOf(expr: string): { names: string[]; errors: string[] } {
  const names: string[] = [];
  const errors: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError)
        errors.push(`syntax error at ${node.from}: "${expr.slice(node.from, node.from + 20)}"`);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') {
        names.push(expr.slice(node.from, node.to));
      }
    },
  });
  return { names, errors };
}

/** The series names a /metrics page serves: each family's name, and a histogram's or summary's suffixed series. */
export function servedMetricNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
  }
  return names;
}
