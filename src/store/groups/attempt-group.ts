import type { Selectable } from 'kysely';
import { newId, type StoreContext, toIso } from '../context.ts';
import type { DeliveryAttemptTable } from '../schema.ts';
import type { AttemptStore, DeliveryAttempt } from '../store.ts';

const snippetLength = 1_000;

function attemptFromRow(row: Selectable<DeliveryAttemptTable>): DeliveryAttempt {
  return {
    id: row.id,
    jobId: row.job_id,
    tenantId: row.tenant_id,
    endpointId: row.endpoint_id,
    at: toIso(row.at),
    statusCode: row.status_code,
    durationMs: row.duration_ms,
    responseSnippet: row.response_snippet,
    error: row.error,
  };
}

/** The delivery log: one row per attempt, with the job's tenant and endpoint copied for lookups. */
export function createAttemptGroup(ctx: StoreContext): AttemptStore {
  const { db } = ctx;

  return {
    async record(input) {
      const job = await db
        .selectFrom('delivery_jobs')
        .select(['tenant_id', 'endpoint_id'])
        .where('id', '=', input.jobId)
        .executeTakeFirstOrThrow(() => new Error(`no delivery job ${input.jobId}`));
      const row = await db
        .insertInto('delivery_attempts')
        .values({
          id: newId('att'),
          tenant_id: job.tenant_id,
          job_id: input.jobId,
          endpoint_id: job.endpoint_id,
          at: input.at.getTime(),
          status_code: input.statusCode ?? null,
          duration_ms: Math.round(input.durationMs),
          response_snippet: input.responseSnippet?.slice(0, snippetLength) ?? null,
          error: input.error ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return attemptFromRow(row);
    },

    async list(query) {
      const rows = await db
        .selectFrom('delivery_attempts')
        .selectAll()
        .$if('jobId' in query, (qb) => qb.where('job_id', '=', (query as { jobId: string }).jobId))
        .$if('endpointId' in query, (qb) =>
          qb.where('endpoint_id', '=', (query as { endpointId: string }).endpointId),
        )
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(Math.min(Math.max(query.limit ?? 100, 1), 1000))
        .execute();
      return rows.map(attemptFromRow);
    },
  };
}
