import { createRandom, createZipf, type Random, shuffled } from './random.ts';
import { inflectedWords, stopWords, vocabulary } from './vocabulary.ts';

/**
 * Synthetic intelligence briefs shaped like shared/examples/seed-event.json: a 2–5 KB body,
 * entities, commodities, regions, signals and implications, on a theme of a few countries,
 * companies and commodities. Word frequencies follow Zipf's law over a vocabulary of a few
 * thousand words; the same seed gives the same briefs.
 */

const outlets = [
  'Nikkei',
  'Reuters',
  'Bloomberg',
  'Financial Times',
  'Caixin',
  'Argus',
  'Platts',
  'Mining Weekly',
  "Lloyd's List",
  'Al-Monitor',
];
const categories = ['news', 'news', 'news', 'analysis', 'analysis', 'official-statement', 'opinion'];
const directions = ['up', 'down', 'mixed', 'neutral'] as const;
const assets = [
  'rare-earth processors',
  'specialty chemicals',
  'copper miners',
  'lithium producers',
  'tanker rates',
  'Brent crude',
  'EM currencies',
  'chip equipment',
  'steelmakers',
  'grain futures',
  'defense stocks',
  'utilities',
];

/** The shared Zipf ranking of the vocabulary: rules and briefs must agree on what is common. */
export function rankedVocabulary() {
  const random = createRandom(7);
  const { bases, forms } = inflectedWords();
  return {
    // Base words take the common ranks, inflected forms the tail.
    words: [...shuffled(bases, random), ...shuffled(forms, random)],
    countries: shuffled(vocabulary.countries, random),
    companies: shuffled(vocabulary.companies, random),
    organizations: shuffled(vocabulary.organizations, random),
    commodities: shuffled(vocabulary.commodities, random),
    regions: shuffled(vocabulary.regions, random),
    topics: shuffled(vocabulary.topics, random),
    phrases: shuffled(vocabulary.phrases, random),
  };
}

export function createEventGenerator(seed: number) {
  const random = createRandom(seed);
  const ranked = rankedVocabulary();
  const draw = {
    word: createZipf(ranked.words, random, 1, 20),
    stop: createZipf(stopWords, random, 1),
    country: createZipf(ranked.countries, random, 1),
    company: createZipf(ranked.companies, random, 0.9),
    organization: createZipf(ranked.organizations, random, 0.9),
    commodity: createZipf(ranked.commodities, random, 1),
    region: createZipf(ranked.regions, random, 0.9),
    topic: createZipf(ranked.topics, random, 0.8),
    phrase: createZipf(ranked.phrases, random, 1, 10),
  };
  let clock = Date.parse('2026-07-01T00:00:00Z');
  let serial = 0;

  const distinct = (drawOne: () => string, count: number) => {
    const chosen = new Set<string>();
    for (let tries = 0; chosen.size < count && tries < count * 10; tries++) chosen.add(drawOne());
    return [...chosen];
  };

  return function nextEvent() {
    serial += 1;
    clock += random.int(20, 600) * 1000;
    const theme = {
      countries: distinct(draw.country, random.int(2, 4)),
      companies: distinct(draw.company, random.int(1, 3)),
      organizations: distinct(draw.organization, random.int(0, 2)),
      commodities: distinct(draw.commodity, random.int(1, 4)),
      regions: distinct(draw.region, random.int(1, 3)),
    };
    // A brief is about something: most of its words and phrases come from its own small theme.
    const themeWords = distinct(draw.word, random.int(80, 160));
    const themePhrases = distinct(draw.phrase, random.int(2, 5));
    const named = [...theme.countries, ...theme.companies, ...theme.organizations];
    const words = { theme: themeWords, phrases: themePhrases, named };
    const sentence = (min: number, max: number) =>
      writeSentence(random, draw, words, theme, random.int(min, max));
    const paragraph = (minChars: number) => {
      const parts: string[] = [];
      let length = 0;
      while (length < minChars) {
        const next = sentence(14, 30);
        parts.push(next);
        length += next.length + 1;
      }
      return parts.join(' ');
    };
    const summary = `${sentence(16, 26)} ${sentence(12, 22)}`;
    const entities = [
      ...theme.countries.map((name) => ({ name, type: 'country' })),
      ...theme.companies.map((name) => ({ name, type: 'company' })),
      ...theme.organizations.map((name) => ({ name, type: 'organization' })),
    ];
    return {
      id: `brief-${String(serial).padStart(7, '0')}`,
      publishedAt: new Date(clock).toISOString(),
      title: titleOf(random, draw, theme),
      summary,
      body: `${summary} ${paragraph(random.int(1800, 4600))}`,
      url: `https://briefs.example.com/${serial}`,
      source: { name: random.pick(outlets), publishedAt: new Date(clock).toISOString().slice(0, 10) },
      category: random.pick(categories),
      severity: random.int(1, 5),
      topics: distinct(draw.topic, random.int(3, 5)),
      keywords: distinct(draw.phrase, random.int(3, 5)),
      commodities: theme.commodities,
      regions: theme.regions,
      entities,
      signals: Array.from({ length: random.int(2, 4) }, () => sentence(10, 20)),
      implications: Array.from({ length: random.int(2, 4) }, () => sentence(12, 24)),
      marketImpact: {
        direction: random.pick(directions),
        score: Math.round(random.next() * 100) / 100,
        assets: random.sample(assets, random.int(1, 3)),
      },
      language: 'en',
    };
  };
}

type Draw = Record<'word' | 'stop' | 'phrase', () => string>;
type Theme = { countries: string[]; companies: string[]; commodities: string[]; regions: string[] };

type Words = { theme: string[]; phrases: string[]; named: string[] };

function writeSentence(random: Random, draw: Draw, words: Words, theme: Theme, length: number): string {
  const out: string[] = [];
  while (out.length < length) {
    const roll = random.next();
    if (roll < 0.38) out.push(draw.stop());
    else if (roll < 0.78) out.push(random.pick(words.theme));
    else if (roll < 0.84) out.push(draw.word());
    else if (roll < 0.865) out.push(random.pick(words.phrases));
    else if (roll < 0.87) out.push(draw.phrase());
    else if (roll < 0.94) out.push(random.pick(words.named));
    else if (roll < 0.975) out.push(random.pick(theme.commodities));
    else out.push(random.pick(theme.regions));
  }
  const text = out.join(' ');
  return `${text[0]!.toUpperCase()}${text.slice(1)}.`;
}

function titleOf(random: Random, draw: Draw, theme: Theme): string {
  const parts = [
    random.pick(theme.countries),
    draw.word(),
    draw.phrase(),
    draw.stop(),
    random.pick(theme.commodities),
    draw.word(),
    draw.word(),
  ];
  if (random.chance(0.5)) parts.push(draw.stop(), random.pick(theme.companies), draw.word());
  return parts.join(' ').replace(/^./, (first) => first.toUpperCase());
}
