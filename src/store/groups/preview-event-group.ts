import { promisify } from 'node:util';
import { deflateRaw, inflateRawSync } from 'node:zlib';
import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { IntelEvent } from '../../ingest/event-schema.ts';
import { eventTermText, type TermCondition } from '../../rules/event-terms.ts';
import { chunk, type StoreContext, toMillis } from '../context.ts';
import type { Database } from '../schema.ts';
import {
  DEFAULT_TENANT,
  type PreviewEventQuery,
  type PreviewEventStore,
  type StoredPreviewEvent,
} from '../store.ts';
import { withStoreErrors } from '../store-errors.ts';

/** Rows read per query while scanning: the scan holds one page at a time, never the ring. */
const scanPage = 500;

/**
 * The preview ring: the newest `capacity` ingested events of a tenant. Each append takes a
 * range of sequence numbers from the tenant's counter row (its row lock orders appends of
 * several instances on PostgreSQL and is held only for this short transaction), inserts the
 * events under them and deletes every row older than the newest `capacity`. Sequence numbers
 * have no gaps, so exactly the newest `capacity` rows remain, whatever `capacity` was before.
 *
 * Bodies are the event JSON compressed with raw DEFLATE (node:zlib): briefs are prose-heavy
 * JSON, which DEFLATE shrinks to about a third. Next to the body each row keeps the event's
 * term text (rules/event-terms.ts), so a scan for one rule inflates, parses and analyses only
 * the events whose tokens could satisfy the rule's presearch: what makes a preview of a rule
 * over the whole ring take well under a second.
 */
const deflate = promisify(deflateRaw);

/** The term text given for an event (null: it has none), or made now. */
function termTextOf(event: IntelEvent, given: string | null | undefined): string | null {
  return given === undefined ? eventTermText(event) : given;
}

export function createPreviewEventGroup(ctx: StoreContext): PreviewEventStore {
  const { db } = ctx;

  /** The tenant's rows in the time range, as a query to add conditions to. */
  function windowOf(query: PreviewEventQuery) {
    const from = query.from === undefined ? undefined : toMillis(query.from);
    const to = query.to === undefined ? undefined : toMillis(query.to);
    let select = db.selectFrom('preview_events').where('tenant_id', '=', query.tenantId ?? DEFAULT_TENANT);
    if (from !== undefined) select = select.where('published_at', '>=', from);
    if (to !== undefined) select = select.where('published_at', '<', to);
    return select;
  }

  /**
   * Rows oldest first, a page at a time, up to `through` (a seq); with `condition`, only the
   * rows whose term text meets it, or that have none (rules/event-terms.ts). The test runs in
   * the database, so the other rows never leave it.
   */
  async function* scanRows(
    query: PreviewEventQuery,
    condition: TermCondition | null,
    through: number | null,
  ): AsyncGenerator<StoredPreviewEvent> {
    const contains = ctx.dialect === 'postgres' ? 'strpos' : 'instr';
    let after = -1;
    for (;;) {
      let select = windowOf(query).select(['seq', 'received_at', 'body']).where('seq', '>', after);
      if (through !== null) select = select.where('seq', '<=', through);
      if (condition !== null) {
        select = select.where((eb) => {
          const test = (part: TermCondition): Expression<SqlBool> => {
            if (typeof part === 'string') return eb(sql`${sql.raw(contains)}(terms, ${part})`, '>', 0);
            return 'all' in part ? eb.and(part.all.map(test)) : eb.or(part.any.map(test));
          };
          return eb.or([eb('terms', 'is', null), test(condition)]);
        });
      }
      const rows = await withStoreErrors('preview events scan', () =>
        select.orderBy('seq').limit(scanPage).execute(),
      );
      for (const row of rows) {
        yield {
          seq: Number(row.seq),
          receivedAt: new Date(Number(row.received_at)).toISOString(),
          event: JSON.parse(inflateRawSync(row.body).toString('utf8')) as IntelEvent,
        };
      }
      if (rows.length < scanPage) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  return {
    append(events, options) {
      const tenant = options.tenantId ?? DEFAULT_TENANT;
      const capacity = Math.trunc(options.capacity);
      if (events.length === 0 || capacity <= 0) return Promise.resolve();
      const receivedAt = ctx.now().getTime();
      // Only the newest `capacity` of a huge batch could survive the trim anyway.
      const skipped = Math.max(0, events.length - capacity);
      const kept = skipped > 0 ? events.slice(skipped) : events;
      return withStoreErrors('preview events append', async () => {
        // Compressed on libuv's thread pool: at ingest rates the event loop has better to do.
        const rows = await Promise.all(
          kept.map(async (event, i) => ({
            event_id: event.id,
            published_at: toMillis(event.publishedAt),
            body: await deflate(JSON.stringify(event)),
            terms: termTextOf(event, options.terms?.[skipped + i]),
          })),
        );
        return ctx.transaction(async (trx) => {
          const next = await takeSequence(trx, tenant, events.length);
          const first = next - rows.length;
          for (const [part, offset] of chunkWithOffsets(rows, 200)) {
            await trx
              .insertInto('preview_events')
              .values(
                part.map((row, i) => ({
                  tenant_id: tenant,
                  seq: first + offset + i,
                  event_id: row.event_id,
                  published_at: row.published_at,
                  received_at: receivedAt,
                  body: row.body,
                  terms: row.terms,
                })),
              )
              .execute();
          }
          await trx
            .deleteFrom('preview_events')
            .where('tenant_id', '=', tenant)
            .where('seq', '<', next - capacity)
            .execute();
        });
      });
    },

    scan(query: PreviewEventQuery = {}) {
      return scanRows(query, null, null);
    },

    async scanFor(condition, query = {}) {
      // The window as it stands now: its size, and its newest row, where the scan stops (rows
      // appended meanwhile are not counted, so neither are they read).
      const head = await withStoreErrors('preview events scan', () =>
        windowOf(query)
          .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.max('seq').as('last')])
          .executeTakeFirstOrThrow(),
      );
      const total = Number(head.n);
      if (total === 0) return { total, rows: scanRows(query, null, -1) };
      return { total, rows: scanRows(query, condition, Number(head.last)) };
    },

    async count(scope = {}) {
      const tenant = scope.tenantId ?? DEFAULT_TENANT;
      const row = await db
        .selectFrom('preview_events')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('tenant_id', '=', tenant)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}

/** Adds `count` to the tenant's counter and returns the new value (one past the last seq taken). */
async function takeSequence(trx: Kysely<Database>, tenant: string, count: number): Promise<number> {
  const row = await trx
    .insertInto('preview_event_counter')
    .values({ tenant_id: tenant, next_seq: count })
    .onConflict((oc) =>
      oc
        .column('tenant_id')
        .doUpdateSet((eb) => ({ next_seq: eb('preview_event_counter.next_seq', '+', count) })),
    )
    .returning('next_seq')
    .executeTakeFirstOrThrow();
  return Number(row.next_seq);
}

function chunkWithOffsets<T>(items: readonly T[], size: number): [T[], number][] {
  return chunk(items, size).map((part, i) => [part, i * size]);
}
