import { Engine, type NestedCondition, type TopLevelCondition } from 'json-rules-engine';
import { analyzeText } from '../src/rules/analyzer.ts';
import { defaultFields } from '../src/rules/query-ast.ts';
import type { BenchRule, Clause } from './generate-rules.ts';

/**
 * The benchmark's baseline: the same rules in json-rules-engine, the general-purpose rules engine
 * people reach for first. It has no text search, so text clauses become custom operators over a
 * fact that holds each event's analysed tokens (computed once per event, with Tocsin's own
 * analyzer, so both engines see the same tokens). Numbers use its built-in operators.
 */

/** field dot path → the token lists of its values. */
type Document = Map<string, string[][]>;
type Pattern = { token: string; prefix: boolean }[];
type TermValue = { fields: string[]; pattern: Pattern };
type NearValue = { fields: string[]; a: Pattern; b: Pattern; distance: number; ordered: boolean };

export function createJsonRulesEngine(rules: readonly BenchRule[]) {
  const engine = new Engine([], { allowUndefinedFacts: true });
  engine.addOperator<Document, TermValue>('hasTerm', (doc, { fields, pattern }) =>
    fields.some((field) => doc.get(field)?.some((tokens) => occurrences(tokens, pattern).length > 0)),
  );
  engine.addOperator<Document, NearValue>('near', (doc, value) =>
    value.fields.some((field) => doc.get(field)?.some((tokens) => isNear(tokens, value))),
  );
  for (const { input, clause } of rules) {
    engine.addRule({ name: input.id, conditions: topLevel(clause), event: { type: input.id } });
  }
  return {
    async match(event: Record<string, unknown>): Promise<string[]> {
      const marketImpact = event.marketImpact as { score?: number } | undefined;
      const result = await engine.run({
        doc: documentOf(event),
        category: event.category,
        severity: event.severity,
        'marketImpact.score': marketImpact?.score,
      });
      return result.events.map((fired) => fired.type);
    },
  };
}

function topLevel(clause: Clause): TopLevelCondition {
  const condition = conditionOf(clause);
  return 'all' in condition || 'any' in condition || 'not' in condition
    ? (condition as TopLevelCondition)
    : { all: [condition] };
}

function conditionOf(clause: Clause): NestedCondition {
  switch (clause.kind) {
    case 'and':
      return { all: clause.items.map(conditionOf) };
    case 'or':
      return { any: clause.items.map(conditionOf) };
    case 'not':
      return { not: conditionOf(clause.item) };
    case 'compare': {
      const operator = {
        '>=': 'greaterThanInclusive',
        '>': 'greaterThan',
        '<=': 'lessThanInclusive',
        '<': 'lessThan',
      }[clause.op];
      return { fact: clause.field, operator, value: clause.value };
    }
    case 'term':
      // `category` is a plain string field: equality is what an analyst means there.
      if (clause.field === 'category') return { fact: 'category', operator: 'equal', value: clause.text };
      return {
        fact: 'doc',
        operator: 'hasTerm',
        value: { fields: fieldsOf(clause.field), pattern: patternOf(clause.text) },
      };
    case 'near':
      return {
        fact: 'doc',
        operator: 'near',
        value: {
          fields: fieldsOf(clause.field),
          a: patternOf(clause.a),
          b: patternOf(clause.b),
          distance: clause.distance,
          ordered: clause.ordered,
        },
      };
  }
}

const fieldsOf = (field: string | undefined) => (field ? [field] : defaultFields);

function patternOf(text: string): Pattern {
  return text.split(' ').flatMap((word) => {
    const prefix = word.endsWith('*');
    const tokens = analyzeText(prefix ? word.slice(0, -1) : word).terms;
    return tokens.map((token, index) => ({ token, prefix: prefix && index === tokens.length - 1 }));
  });
}

function documentOf(event: Record<string, unknown>): Document {
  const doc: Document = new Map();
  const walk = (value: unknown, path: string) => {
    if (typeof value === 'string') {
      const values = doc.get(path);
      if (values) values.push(analyzeText(value).terms);
      else doc.set(path, [analyzeText(value).terms]);
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, path);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) walk(child, path ? `${path}.${key}` : key);
    }
  };
  walk(event, '');
  return doc;
}

/** Start positions where the pattern occurs in the tokens. */
function occurrences(tokens: string[], pattern: Pattern): number[] {
  const found: number[] = [];
  for (let start = 0; start + pattern.length <= tokens.length; start++) {
    let index = 0;
    for (; index < pattern.length; index++) {
      const { token, prefix } = pattern[index]!;
      const actual = tokens[start + index]!;
      if (prefix ? !actual.startsWith(token) : actual !== token) break;
    }
    if (index === pattern.length) found.push(start);
  }
  return found;
}

function isNear(tokens: string[], { a, b, distance, ordered }: NearValue): boolean {
  const starts = occurrences(tokens, a);
  if (starts.length === 0) return false;
  const others = occurrences(tokens, b);
  for (const s1 of starts) {
    const e1 = s1 + a.length - 1;
    for (const s2 of others) {
      const e2 = s2 + b.length - 1;
      if (s2 > e1 && s2 - e1 - 1 <= distance) return true;
      if (!ordered && s1 > e2 && s1 - e2 - 1 <= distance) return true;
    }
  }
  return false;
}
