import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isAppError } from '../errors.ts';
import { type EventProcessor, overBudgetReason } from '../ingest/event-processor.ts';
import type { IntelEvent } from '../ingest/event-schema.ts';
import { validateEvent } from '../ingest/parse-event.ts';
import { errorBodySchema } from './error-handler.ts';
import type { Metrics } from './metrics.ts';

const ingestResult = z
  .object({
    accepted: z.array(z.string()).describe('ids of the events stored and evaluated'),
    rejected: z.array(z.object({ line: z.number().int(), reason: z.string() })),
  })
  .meta({ id: 'IngestResult' });

type Rejection = { line: number; reason: string };

/**
 * `POST /v1/events` (shared/spec/contracts.md): one event as `application/json` (an array of
 * events is taken too, `line` then being the element's position), or many as
 * `application/x-ndjson`. Bodies are read as text so that each line is judged on its own:
 * a bad line is reported and never loses the good ones.
 */
export function eventRoutes(deps: {
  processor: EventProcessor;
  metrics: Metrics;
  maxBodyBytes: number;
}): FastifyPluginAsyncZod {
  return async (app) => {
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser(
      ['application/json', 'application/x-ndjson'],
      { parseAs: 'string', bodyLimit: deps.maxBodyBytes },
      (_request, body, done) => done(null, body),
    );

    app.post(
      '/v1/events',
      {
        config: { access: 'ingest' },
        schema: {
          summary: 'Ingest events',
          description:
            'One event as application/json (or a JSON array of events), or many as application/x-ndjson, one per line; ' +
            'the body may be compressed (Content-Encoding gzip, deflate or br; the size limit applies to the decoded bytes). ' +
            '202 once the accepted events are evaluated and their alerts handed on; 400 when none was accepted.',
          tags: ['events'],
          consumes: ['application/json', 'application/x-ndjson'],
          // 400: no event accepted (IngestResult), or a body that could not be read at all
          // (a corrupt Content-Encoding: the Error shape); 413 past TOCSIN_MAX_BODY once decoded.
          response: {
            202: ingestResult,
            400: z.union([ingestResult, errorBodySchema]),
            413: errorBodySchema,
            415: errorBodySchema,
          },
        },
      },
      async (request, reply) => {
        const text = typeof request.body === 'string' ? request.body : '';
        const isNdjson = (request.headers['content-type'] ?? '').startsWith('application/x-ndjson');
        const read = isNdjson ? readNdjson(text) : readJson(text);
        const { rejected } = read;
        deps.metrics.eventsReceived.inc({ source: 'http' }, read.events.length + rejected.length);
        for (const rejection of rejected) {
          const reason = rejection.reason.startsWith('not JSON') ? 'not_json' : 'invalid_event';
          deps.metrics.eventsRejected.inc({ source: 'http', reason });
        }
        let accepted = read.events;
        if (accepted.length > 0) {
          const { overBudget } = await deps.processor.process(read.events, 'http');
          if (overBudget.length > 0) {
            const skipped = new Set(overBudget.map(({ index }) => index));
            accepted = read.events.filter((_, index) => !skipped.has(index));
            for (const { index, budgetMs } of overBudget) {
              rejected.push({ line: read.lines[index]!, reason: overBudgetReason(budgetMs) });
              deps.metrics.eventsRejected.inc({ source: 'http', reason: 'match_budget' });
            }
            rejected.sort((a, b) => a.line - b.line);
          }
        }
        return reply
          .code(accepted.length > 0 ? 202 : 400)
          .send({ accepted: accepted.map((event) => event.id), rejected });
      },
    );
  };
}

/** The events read, with the line (or array position) of each, and the rejected lines. */
type ReadBody = { events: IntelEvent[]; lines: number[]; rejected: Rejection[] };

function judge(value: unknown, line: number, { events, lines, rejected }: ReadBody): void {
  try {
    events.push(validateEvent(value));
    lines.push(line);
  } catch (error) {
    if (!isAppError(error)) throw error;
    rejected.push({ line, reason: error.message });
  }
}

function readNdjson(text: string): ReadBody {
  const read: ReadBody = { events: [], lines: [], rejected: [] };
  const { rejected } = read;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      rejected.push({ line: index + 1, reason: `not JSON: ${(error as Error).message}` });
      continue;
    }
    judge(value, index + 1, read);
  }
  if (read.events.length === 0 && rejected.length === 0)
    rejected.push({ line: 1, reason: 'the body holds no event' });
  return read;
}

function readJson(text: string): ReadBody {
  const read: ReadBody = { events: [], lines: [], rejected: [] };
  let value: unknown;
  try {
    // A UTF-8 byte order mark, as some Windows tools write: taken, like in NDJSON (where each
    // line is trimmed) and like Fastify's own JSON parser does for the other routes.
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    read.rejected.push({ line: 1, reason: `not JSON: ${(error as Error).message}` });
    return read;
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) judge(item, index + 1, read);
  } else {
    judge(value, 1, read);
  }
  return read;
}
