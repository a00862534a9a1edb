import { randomBytes } from 'node:crypto';
import type { Selectable, Updateable } from 'kysely';
import { decodeFlag, encodeFlag, newId, type StoreContext, toIso, toIsoOrNull } from '../context.ts';
import type { WebhookEndpointTable } from '../schema.ts';
import {
  DEFAULT_TENANT,
  type WebhookEndpoint,
  type WebhookEndpointStore,
  type WebhookFormat,
} from '../store.ts';

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function endpointFromRow(row: Selectable<WebhookEndpointTable>): WebhookEndpoint {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    url: row.url,
    secret: row.secret,
    previousSecret: row.previous_secret,
    previousSecretExpiresAt: toIsoOrNull(row.previous_secret_expires_at),
    format: row.format as WebhookFormat,
    disabled: decodeFlag(row.disabled),
    disabledReason: row.disabled_reason,
    disabledAt: toIsoOrNull(row.disabled_at),
    failingSince: toIsoOrNull(row.failing_since),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

export function createEndpointGroup(ctx: StoreContext): WebhookEndpointStore {
  const { db } = ctx;
  const update = async (id: string, set: Updateable<WebhookEndpointTable>) => {
    const row = await db
      .updateTable('webhook_endpoints')
      .set({ ...set, updated_at: ctx.now().getTime() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row ? endpointFromRow(row) : undefined;
  };

  return {
    async create(input) {
      const now = ctx.now().getTime();
      const row = await db
        .insertInto('webhook_endpoints')
        .values({
          id: newId('ep'),
          tenant_id: input.tenantId ?? DEFAULT_TENANT,
          url: input.url,
          secret: input.secret ?? generateWebhookSecret(),
          previous_secret: null,
          previous_secret_expires_at: null,
          format: input.format ?? 'standard',
          disabled: encodeFlag(false),
          disabled_reason: null,
          disabled_at: null,
          failing_since: null,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return endpointFromRow(row);
    },

    async get(id) {
      const row = await db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      return row ? endpointFromRow(row) : undefined;
    },

    async list(scope = {}) {
      const rows = await db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(endpointFromRow);
    },

    update(id, patch) {
      return update(id, {
        ...(patch.url !== undefined && { url: patch.url }),
        ...(patch.format !== undefined && { format: patch.format }),
      });
    },

    async rotateSecret(id, previousValidUntil, secret) {
      return ctx.transaction(async (trx) => {
        const current = await trx
          .selectFrom('webhook_endpoints')
          .select('secret')
          .where('id', '=', id)
          .executeTakeFirst();
        if (!current) return undefined;
        const row = await trx
          .updateTable('webhook_endpoints')
          .set({
            secret: secret ?? generateWebhookSecret(),
            previous_secret: current.secret,
            previous_secret_expires_at: previousValidUntil.getTime(),
            updated_at: ctx.now().getTime(),
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return endpointFromRow(row);
      });
    },

    disable(id, reason, at) {
      return update(id, { disabled: encodeFlag(true), disabled_reason: reason, disabled_at: at.getTime() });
    },

    enable(id) {
      return update(id, {
        disabled: encodeFlag(false),
        disabled_reason: null,
        disabled_at: null,
        failing_since: null,
      });
    },

    async noteResult(id, ok, at) {
      if (ok) return update(id, { failing_since: null });
      // Only the first failure of a run sets it; later ones leave it (COALESCE).
      const row = await db
        .updateTable('webhook_endpoints')
        .set((eb) => ({
          failing_since: eb.fn.coalesce('failing_since', eb.val(at.getTime())),
          updated_at: ctx.now().getTime(),
        }))
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return row ? endpointFromRow(row) : undefined;
    },

    async delete(id) {
      const result = await db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}
