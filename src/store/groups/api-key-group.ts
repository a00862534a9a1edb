import type { Selectable } from 'kysely';
import { isRole } from '../../http/roles.ts';
import { newId, type StoreContext, toIso, toIsoOrNull } from '../context.ts';
import type { ApiKeyTable } from '../schema.ts';
import { type ApiKey, type ApiKeyStore, DEFAULT_TENANT } from '../store.ts';

function apiKeyFromRow(row: Selectable<ApiKeyTable>): ApiKey {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    prefix: row.prefix,
    hash: row.hash,
    name: row.name,
    // A role this code does not know (a newer version's, or typed by hand) reads as the
    // least one, never as more than the row says.
    role: isRole(row.role) ? row.role : 'reader',
    createdAt: toIso(row.created_at),
    revokedAt: toIsoOrNull(row.revoked_at),
  };
}

/** API keys are stored as a hash the caller computes; the key itself never reaches the store. */
export function createApiKeyGroup(ctx: StoreContext): ApiKeyStore {
  const { db } = ctx;

  return {
    async create(input) {
      const row = await db
        .insertInto('api_keys')
        .values({
          id: input.id ?? newId('key'),
          tenant_id: input.tenantId ?? DEFAULT_TENANT,
          prefix: input.prefix,
          hash: input.hash,
          name: input.name,
          role: input.role ?? 'admin',
          created_at: ctx.now().getTime(),
          revoked_at: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return apiKeyFromRow(row);
    },

    async findByHash(hash) {
      const row = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('hash', '=', hash)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return row ? apiKeyFromRow(row) : undefined;
    },

    async list(scope = {}) {
      const rows = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(apiKeyFromRow);
    },

    async revoke(id, at) {
      const result = await db
        .updateTable('api_keys')
        .set({ revoked_at: at.getTime() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
  };
}
