import type { Selectable } from 'kysely';
import { isRole } from '../../http/roles.ts';
import { announceChange, type ChangeFeed } from '../change-feed.ts';
import { chunk, newId, type StoreContext, toIso, toIsoOrNull } from '../context.ts';
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
/** The change-feed channel of key revocations; the payload is the key id. */
export const apiKeyChannel = 'api-keys';

export function createApiKeyGroup(
  ctx: StoreContext,
  changes: Pick<ChangeFeed, 'noteCommitted'>,
): ApiKeyStore {
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

    async revokedAmong(ids) {
      if (ids.length === 0) return [];
      const live = new Set<string>();
      for (const part of chunk([...ids], 500)) {
        const rows = await db
          .selectFrom('api_keys')
          .select('id')
          .where('id', 'in', part)
          .where('revoked_at', 'is', null)
          .execute();
        for (const row of rows) live.add(row.id);
      }
      return ids.filter((id) => !live.has(id));
    },

    // Announced on the change feed's `api-keys` channel (payload: the key id) in the same
    // transaction, so every instance closes the key's streams (stream-hub.ts), whoever revoked
    // it: the API of any instance, or `tocsin keys revoke` straight on the store.
    async revoke(id, at) {
      const [isRevoked, version] = await ctx.transaction(async (trx) => {
        const result = await trx
          .updateTable('api_keys')
          .set({ revoked_at: at.getTime() })
          .where('id', '=', id)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) return [false, undefined] as const;
        return [true, await announceChange(trx, ctx.dialect, apiKeyChannel, id)] as const;
      });
      if (isRevoked) changes.noteCommitted(apiKeyChannel, id, version);
      return isRevoked;
    },
  };
}
