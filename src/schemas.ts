import { z } from 'zod';
import { webhookPayloadSchema } from './delivery/webhook/webhook-payload.ts';
import { streamMessagesSchema } from './delivery/websocket/stream-messages.ts';
import { eventSchema } from './ingest/event-schema.ts';
import { ruleSchema } from './rules/rule-schema.ts';

/**
 * The published JSON Schemas, rendered from the zod schemas that validate at the boundary.
 * `schemas/` holds the committed copies; a test fails when they are stale.
 */
export function renderSchemas(): Record<string, string> {
  const render = (schema: z.ZodType, id: string, io: 'input' | 'output') =>
    `${JSON.stringify({ $id: id, ...z.toJSONSchema(schema, { io, target: 'draft-2020-12' }) }, null, 2)}\n`;
  return {
    'event.schema.json': render(eventSchema, 'https://tocsin.dev/schemas/event.schema.json', 'input'),
    'rule.schema.json': render(ruleSchema, 'https://tocsin.dev/schemas/rule.schema.json', 'input'),
    'webhook-payload.schema.json': render(
      webhookPayloadSchema,
      'https://tocsin.dev/schemas/webhook-payload.schema.json',
      'input',
    ),
    'stream-messages.schema.json': render(
      streamMessagesSchema,
      'https://tocsin.dev/schemas/stream-messages.schema.json',
      'output',
    ),
  };
}
