import type { Selectable } from 'kysely';
import { isRole } from '../../http/roles.ts';
import { decodeJsonOrNull, encodeJson, newId, type StoreContext, toIso } from '../context.ts';
import { decodeKeysetCursor, keysetPage, keysetPageSize } from '../keyset-cursor.ts';
import type { AuditLogTable } from '../schema.ts';
import { type AuditEntry, type AuditStore, DEFAULT_TENANT } from '../store.ts';

function auditEntryFromRow(row: Selectable<AuditLogTable>): AuditEntry {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    at: toIso(Number(row.at)),
    actor: {
      keyId: row.actor_key_id,
      name: row.actor_name,
      role: isRole(row.actor_role) ? row.actor_role : 'reader',
    },
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    before: decodeJsonOrNull(row.before),
    after: decodeJsonOrNull(row.after),
  };
}

/** The audit log: append-only; retention deletes by `at` (purge.ts). */
export function createAuditGroup(ctx: StoreContext): AuditStore {
  const { db } = ctx;

  return {
    async record(entry) {
      const row = await db
        .insertInto('audit_log')
        .values({
          id: newId('aud'),
          tenant_id: entry.tenantId ?? DEFAULT_TENANT,
          at: ctx.now().getTime(),
          actor_key_id: entry.actor.keyId,
          actor_name: entry.actor.name,
          actor_role: entry.actor.role,
          action: entry.action,
          resource_type: entry.resourceType,
          resource_id: entry.resourceId,
          before: entry.before === null || entry.before === undefined ? null : encodeJson(entry.before),
          after: entry.after === null || entry.after === undefined ? null : encodeJson(entry.after),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return auditEntryFromRow(row);
    },

    async list(query = {}) {
      const limit = keysetPageSize(query.limit);
      const after = query.cursor === undefined ? undefined : decodeKeysetCursor(query.cursor);
      const rows = await db
        .selectFrom('audit_log')
        .selectAll()
        .where('tenant_id', '=', query.tenantId ?? DEFAULT_TENANT)
        .$if(query.resourceType !== undefined, (qb) => qb.where('resource_type', '=', query.resourceType!))
        .$if(query.resourceId !== undefined, (qb) => qb.where('resource_id', '=', query.resourceId!))
        .$if(after !== undefined, (qb) =>
          qb.where((eb) =>
            eb.or([eb('at', '<', after![0]), eb.and([eb('at', '=', after![0]), eb('id', '<', after![1])])]),
          ),
        )
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
      return keysetPage(rows, limit, (row) => Number(row.at), auditEntryFromRow);
    },
  };
}
