import type { Selectable } from 'kysely';
import { decodeJson, encodeJson, newId, type StoreContext, toIso, toMillis } from '../context.ts';
import type { SilenceTable } from '../schema.ts';
import { DEFAULT_TENANT, type Silence, type SilenceMatchers, type SilenceStore } from '../store.ts';

function silenceFromRow(row: Selectable<SilenceTable>): Silence {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    matchers: decodeJson<SilenceMatchers>(row.matchers),
    startsAt: toIso(row.starts_at),
    endsAt: toIso(row.ends_at),
    createdBy: row.created_by,
    comment: row.comment,
    createdAt: toIso(row.created_at),
  };
}

/** Silences are active on [startsAt, endsAt); expiring one moves its end to now. */
export function createSilenceGroup(ctx: StoreContext): SilenceStore {
  const { db } = ctx;
  const byId = (id: string) => db.selectFrom('silences').selectAll().where('id', '=', id).executeTakeFirst();

  return {
    async create(input) {
      const row = await db
        .insertInto('silences')
        .values({
          id: newId('sil'),
          tenant_id: input.tenantId ?? DEFAULT_TENANT,
          matchers: encodeJson(input.matchers),
          starts_at: toMillis(input.startsAt),
          ends_at: toMillis(input.endsAt),
          created_by: input.createdBy,
          comment: input.comment ?? null,
          created_at: ctx.now().getTime(),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return silenceFromRow(row);
    },

    async get(id) {
      const row = await byId(id);
      return row ? silenceFromRow(row) : undefined;
    },

    async list(query) {
      const now = query.now.getTime();
      const rows = await db
        .selectFrom('silences')
        .selectAll()
        .where('tenant_id', '=', query.tenantId ?? DEFAULT_TENANT)
        .$if(query.state === 'pending', (qb) => qb.where('starts_at', '>', now))
        .$if(query.state === 'active', (qb) => qb.where('starts_at', '<=', now).where('ends_at', '>', now))
        .$if(query.state === 'expired', (qb) => qb.where('ends_at', '<=', now))
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .execute();
      return rows.map(silenceFromRow);
    },

    async expire(id, now) {
      await db
        .updateTable('silences')
        .set({ ends_at: now.getTime() })
        .where('id', '=', id)
        .where('ends_at', '>', now.getTime())
        .execute();
      const row = await byId(id);
      return row ? silenceFromRow(row) : undefined;
    },

    async active(now, scope = {}) {
      const rows = await db
        .selectFrom('silences')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .where('starts_at', '<=', now.getTime())
        .where('ends_at', '>', now.getTime())
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(silenceFromRow);
    },
  };
}
