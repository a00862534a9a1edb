import type { Kysely, Selectable } from 'kysely';
import type { RuleDefinition } from '../../rules/rule-schema.ts';
import { announceChange, type ChangeFeed } from '../change-feed.ts';
import { decodeFlag, decodeJson, encodeFlag, encodeJson, type StoreContext, toIso } from '../context.ts';
import type { Database, RuleTable } from '../schema.ts';
import { DEFAULT_TENANT, type RuleStore, type StoredRule } from '../store.ts';

function ruleFromRow(row: Selectable<RuleTable>): StoredRule {
  const enabled = decodeFlag(row.enabled);
  return {
    tenantId: row.tenant_id,
    id: row.id,
    document: { ...decodeJson<RuleDefinition>(row.document), enabled },
    enabled,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

/**
 * Rules managed through the API, stored as their validated document. Every mutation announces
 * `rules` (payload: the rule id) in its own transaction, so no instance misses a change that
 * committed.
 */
export function createRuleGroup(ctx: StoreContext, changes: Pick<ChangeFeed, 'noteCommitted'>): RuleStore {
  const { db } = ctx;

  async function announced<T>(id: string, change: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    const [result, version] = await ctx.transaction(async (trx) => {
      const result = await change(trx);
      const version = result === undefined ? undefined : await announceChange(trx, ctx.dialect, 'rules', id);
      return [result, version] as const;
    });
    if (result !== undefined) changes.noteCommitted('rules', id, version);
    return result;
  }

  return {
    async list(query = {}) {
      const rows = await db
        .selectFrom('rules')
        .selectAll()
        .where('tenant_id', '=', query.tenantId ?? DEFAULT_TENANT)
        .$if(query.enabled !== undefined, (qb) => qb.where('enabled', '=', encodeFlag(query.enabled!)))
        .orderBy('id')
        .execute();
      return rows.map(ruleFromRow);
    },

    async get(id, scope = {}) {
      const row = await db
        .selectFrom('rules')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .where('id', '=', id)
        .executeTakeFirst();
      return row ? ruleFromRow(row) : undefined;
    },

    async upsert(document, scope = {}) {
      const now = ctx.now().getTime();
      const row = await announced(document.id, (trx) =>
        trx
          .insertInto('rules')
          .values({
            tenant_id: scope.tenantId ?? DEFAULT_TENANT,
            id: document.id,
            document: encodeJson(document),
            enabled: encodeFlag(document.enabled),
            created_at: now,
            updated_at: now,
          })
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'id']).doUpdateSet((eb) => ({
              document: eb.ref('excluded.document'),
              enabled: eb.ref('excluded.enabled'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return ruleFromRow(row);
    },

    async setEnabled(id, enabled, scope = {}) {
      const row = await announced(id, (trx) =>
        trx
          .updateTable('rules')
          .set({ enabled: encodeFlag(enabled), updated_at: ctx.now().getTime() })
          .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst(),
      );
      return row ? ruleFromRow(row) : undefined;
    },

    async delete(id, scope = {}) {
      const deleted = await announced(id, async (trx) => {
        const result = await trx
          .deleteFrom('rules')
          .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
          .where('id', '=', id)
          .executeTakeFirst();
        return result.numDeletedRows > 0n ? true : undefined;
      });
      return deleted === true;
    },
  };
}
