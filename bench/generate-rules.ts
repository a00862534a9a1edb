import type { RuleInput } from '../src/rules/rule-schema.ts';
import { rankedVocabulary } from './generate-events.ts';
import { createRandom, createZipf } from './random.ts';

/**
 * Synthetic analyst rules for the match benchmark. Each rule is built as a small clause tree,
 * then written both as a Tocsin query and (in json-rules-engine-rules.ts) as json-rules-engine
 * conditions, so the two engines answer the same questions.
 *
 * The templates are what media-monitoring analysts write: a subject (commodity, entity, region)
 * AND a theme (phrases, OR-lists, prefixes), often a NOT, sometimes a NEAR, a field scope or a
 * range. Terms are drawn with Zipf's law over the same ranked vocabulary as the briefs, so rules
 * share popular terms the way real rule sets do.
 */

export type Clause =
  /** A word, a prefix (`word*`) or a phrase (space-separated, each word may end in `*`). */
  | { kind: 'term'; field?: string; text: string }
  | { kind: 'near'; field?: string; a: string; b: string; distance: number; ordered: boolean }
  | { kind: 'compare'; field: string; op: '>=' | '>' | '<=' | '<'; value: number }
  | { kind: 'and' | 'or'; items: Clause[] }
  | { kind: 'not'; item: Clause };

export type BenchRule = { input: RuleInput; clause: Clause };

/** Tocsin query text of a clause. A field applies to every term inside its parentheses. */
export function queryOf(clause: Clause, parentField?: string): string {
  switch (clause.kind) {
    case 'term': {
      const text = clause.text.includes(' ') ? `"${clause.text}"` : clause.text;
      return clause.field && clause.field !== parentField ? `${clause.field}:${text}` : text;
    }
    case 'near': {
      const operand = (text: string) => (text.includes(' ') ? `"${text}"` : text);
      const near = `${operand(clause.a)} ${clause.ordered ? 'ONEAR' : 'NEAR'}/${clause.distance} ${operand(clause.b)}`;
      return clause.field ? `${clause.field}:(${near})` : `(${near})`;
    }
    case 'compare':
      return `${clause.field}:${clause.op}${clause.value}`;
    case 'not':
      return `NOT ${wrap(clause.item)}`;
    case 'and':
      return clause.items.map((item) => wrap(item)).join(' AND ');
    case 'or': {
      const fields = new Set(clause.items.map((item) => (item.kind === 'term' ? item.field : '\0')));
      const [field] = fields;
      if (fields.size === 1 && field && field !== '\0') {
        return `${field}:(${clause.items.map((item) => queryOf(item, field)).join(' OR ')})`;
      }
      return `(${clause.items.map((item) => queryOf(item)).join(' OR ')})`;
    }
  }
}

function wrap(clause: Clause): string {
  return clause.kind === 'and' ? `(${queryOf(clause)})` : queryOf(clause);
}

export function generateRules(count: number, seed = 42): BenchRule[] {
  const random = createRandom(seed);
  const ranked = rankedVocabulary();
  // Analysts favour specific words over the most frequent ones: skip the head of the ranks.
  const specificWords = ranked.words.slice(150);
  const draw = {
    word: createZipf(specificWords, random, 0.8, 50),
    commonWord: createZipf(ranked.words.slice(40, 400), random, 0.5),
    phrase: createZipf(ranked.phrases, random, 0.8, 20),
    topic: createZipf(ranked.topics, random, 0.8),
    country: createZipf(ranked.countries, random, 0.9),
    company: createZipf(ranked.companies, random, 0.8),
    commodity: createZipf(ranked.commodities, random, 0.9),
    region: createZipf(ranked.regions, random, 0.8),
  };
  const entity = () => (random.chance(0.6) ? draw.country() : draw.company());
  const prefixOf = (word: string) =>
    `${word.slice(0, Math.max(3, Math.min(word.length - 2, random.int(5, 8))))}*`;
  const themeTerm = (): Clause => {
    const roll = random.next();
    if (roll < 0.45) return { kind: 'term', text: draw.word() };
    if (roll < 0.75) return { kind: 'term', text: draw.phrase() };
    const word = draw.word();
    return { kind: 'term', text: word.length >= 7 ? prefixOf(word) : word };
  };
  const phraseOrTerm = (): Clause =>
    random.chance(0.7) ? { kind: 'term', text: draw.phrase() } : themeTerm();
  const anyOf = (make: () => Clause, min: number, max: number): Clause => {
    const items = uniqueClauses(make, random.int(min, max));
    return items.length === 1 ? items[0]! : { kind: 'or', items };
  };
  const inField = (field: string, make: () => string, min: number, max: number): Clause =>
    anyOf(() => ({ kind: 'term', field, text: make() }), min, max);
  const notOpinion: Clause = { kind: 'not', item: { kind: 'term', field: 'category', text: 'opinion' } };

  const subject = {
    commodities: (min: number, max: number) => inField('commodities', draw.commodity, min, max),
    entities: (min: number, max: number) => inField('entities.name', entity, min, max),
    regions: (min: number, max: number) => inField('regions', draw.region, min, max),
  };
  const near = (a: string, b: string, distance: number, ordered: boolean): Clause => ({
    kind: 'near',
    a,
    b,
    distance,
    ordered,
  });
  const atLeast = (field: string, value: number): Clause => ({ kind: 'compare', field, op: '>=', value });

  const templates: [weight: number, make: () => Clause][] = [
    // Commodity watch: commodities:(a OR b) AND (theme OR …) AND "phrase" AND NOT category:opinion
    [
      25,
      () =>
        and(
          subject.commodities(1, 2),
          anyOf(themeTerm, 1, 3),
          phraseOrTerm(),
          random.chance(0.4) ? notOpinion : null,
        ),
    ],
    // Entity watch: entities.name:"X" AND (a OR b OR c) AND "phrase"
    [20, () => and(subject.entities(1, 2), anyOf(themeTerm, 1, 3), phraseOrTerm())],
    // Regional risk: "phrase" AND regions:"R" AND theme AND severity:>=3
    [
      15,
      () =>
        and(
          { kind: 'term', text: draw.phrase() },
          subject.regions(1, 2),
          themeTerm(),
          atLeast('severity', random.int(2, 4)),
        ),
    ],
    // Proximity: (Country NEAR/4 export*) AND commodities:c
    [
      10,
      () =>
        and(
          near(
            draw.country(),
            random.chance(0.5) ? prefixOf(draw.commonWord()) : draw.commonWord(),
            random.int(1, 4),
            random.chance(0.3),
          ),
          subject.commodities(1, 2),
        ),
    ],
    // Headline watch: title:(Country OR …) AND (a OR b) AND "phrase"
    [10, () => and(inField('title', draw.country, 1, 3), anyOf(themeTerm, 1, 2), phraseOrTerm())],
    // Topic with exclusions: (a OR b) AND (c OR d) AND NOT (e OR f) AND regions:R AND topics:(…)
    [
      10,
      () =>
        and(
          anyOf(themeTerm, 2, 3),
          anyOf(themeTerm, 2, 3),
          { kind: 'not', item: anyOf(themeTerm, 1, 2) },
          subject.regions(1, 1),
          inField('topics', draw.topic, 1, 2),
        ),
    ],
    // Market mover: marketImpact.score:>=0.6 AND commodities:c AND a AND b
    [
      5,
      () =>
        and(
          atLeast('marketImpact.score', random.int(5, 9) / 10),
          subject.commodities(1, 1),
          themeTerm(),
          themeTerm(),
        ),
    ],
    // Ordered proximity: (lithium ONEAR/2 supply*) AND theme
    [5, () => and(near(draw.commodity(), draw.commonWord(), random.int(1, 4), true), themeTerm())],
  ];
  const totalWeight = templates.reduce((sum, [weight]) => sum + weight, 0);
  const severities = ['info', 'low', 'medium', 'medium', 'high', 'high', 'critical'] as const;

  return Array.from({ length: count }, (_, index) => {
    let roll = random.next() * totalWeight;
    const [, template] =
      templates.find(([weight]) => {
        roll -= weight;
        return roll < 0;
      }) ?? templates[0]!;
    const clause = template();
    const input: RuleInput = {
      id: `bench-${String(index).padStart(6, '0')}`,
      name: `Bench rule ${index}`,
      severity: random.pick(severities),
      query: queryOf(clause),
    };
    const stateful = random.next();
    if (stateful < 0.1) input.threshold = { count: 3, within: '24h', groupBy: 'entities.name' };
    else if (stateful < 0.15) input.threshold = { count: 2, within: '12h' };
    else if (stateful < 0.25) input.throttle = '6h';
    return { input, clause };
  });
}

function and(...items: (Clause | null)[]): Clause {
  return { kind: 'and', items: items.filter((item): item is Clause => item !== null) };
}

/** Up to `count` clauses with distinct query texts. */
function uniqueClauses(make: () => Clause, count: number): Clause[] {
  const byText = new Map<string, Clause>();
  for (let tries = 0; byText.size < count && tries < count * 5; tries++) {
    const clause = make();
    byText.set(queryOf(clause), clause);
  }
  return [...byText.values()];
}
