import { z } from 'zod';

/**
 * The canonical intelligence event (shared/spec/event.md). Unknown fields are kept
 * (`looseObject`) because rules may name them by dot path. `schemas/event.schema.json`
 * is generated from this schema by `npm run schemas`.
 */
const isoDateTime = z.iso.datetime({ offset: true, local: false });
const isoDateOrDateTime = z.union([z.iso.date(), isoDateTime]);
const stringList = z.array(z.string());

export const eventSchema = z
  .looseObject({
    id: z.string().min(1).max(200),
    publishedAt: isoDateTime,
    title: z.string(),
    summary: z.string().optional(),
    body: z
      .string()
      .max(1024 * 1024)
      .optional(),
    url: z.url().optional(),
    source: z
      .looseObject({
        name: z.string(),
        url: z.url().optional(),
        publishedAt: isoDateOrDateTime.optional(),
      })
      .optional(),
    category: z.string().optional(),
    severity: z.number().int().min(1).max(5).optional(),
    topics: stringList.optional(),
    keywords: stringList.optional(),
    commodities: stringList.optional(),
    regions: stringList.optional(),
    signals: stringList.optional(),
    implications: stringList.optional(),
    entities: z
      .array(z.looseObject({ name: z.string(), type: z.string(), role: z.string().optional() }))
      .optional(),
    marketImpact: z
      .looseObject({
        direction: z.enum(['up', 'down', 'mixed', 'neutral']).optional(),
        score: z.number().min(0).max(1).optional(),
        assets: stringList.optional(),
      })
      .optional(),
    language: z.string().optional(),
  })
  .meta({
    id: 'IntelEvent',
    title: 'Intelligence event',
    description: 'An intelligence brief consumed by Tocsin',
  });

export type IntelEvent = z.infer<typeof eventSchema>;
