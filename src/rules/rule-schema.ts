import { z } from 'zod';

/** The shape of a rule document (shared/spec/rule-language.md, "A rule"). */
export const severities = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof severities)[number];

export const severityRank: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a duration text already checked by `durationSchema` (`90s`, `30m`, `6h`, `7d`). */
export function parseDuration(text: string): number {
  const unit = text.at(-1) as keyof typeof unitMs;
  return Number(text.slice(0, -1)) * unitMs[unit];
}

/**
 * A duration input, `<integer><unit>` with unit s, m, h or d, at most `max` (itself such a
 * text). Every duration Tocsin takes (rules, silences, secret rotation) has an upper bound:
 * an unbounded one turns into dates past JavaScript's range (year 275760) and timers that
 * overflow, and no real use needs more than the bound.
 */
export function durationSchema(max: string, example = '90s, 30m, 6h, 7d') {
  const maxMs = parseDuration(max);
  const shape = /^[0-9]+[smhd]$/;
  return z
    .string()
    .regex(shape, `a duration is <integer><unit> with unit s, m, h or d, e.g. ${example}`)
    .refine((text) => !shape.test(text) || parseDuration(text) <= maxMs, `a duration of at most ${max}`);
}

/** Throttles and threshold windows: a year at most (the ledger's retention is far shorter anyway). */
export const maxRuleDuration = '365d';
const duration = durationSchema(maxRuleDuration);

export const thresholdSchema = z.strictObject({
  count: z.number().int().min(1),
  within: duration,
  groupBy: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'a dot path such as entities.name')
    .optional(),
});

export const ruleSchema = z
  .strictObject({
    id: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9-]{0,63}$/,
        'lower-case letters, digits and "-", at most 64, e.g. rare-earth-export-controls',
      ),
    name: z.string().min(1),
    description: z.string().optional(),
    severity: z.enum(severities).default('medium'),
    enabled: z.boolean().default(true),
    tags: z.array(z.string().min(1)).default([]),
    query: z.string().min(1),
    threshold: thresholdSchema.optional(),
    throttle: duration.optional(),
  })
  .meta({
    id: 'Rule',
    title: 'Tocsin rule',
    description: 'A rule document: one per file, or a YAML list of them',
  });

/** A rule document as written. */
export type RuleInput = z.input<typeof ruleSchema>;
/** A rule document after defaults are applied. */
export type RuleDefinition = z.output<typeof ruleSchema>;
