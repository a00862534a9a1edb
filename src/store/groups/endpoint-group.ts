import { randomBytes } from 'node:crypto';
import type { Selectable, Updateable } from 'kysely';
import { decodeFlag, encodeFlag, newId, type StoreContext, toIso, toIsoOrNull } from '../context.ts';
import type { WebhookEndpointTable } from '../schema.ts';
import type { SecretBox } from '../secret-box.ts';
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

/**
 * Secrets are sealed on every write (secret-box.ts) and opened on every read. A plaintext
 * value is one from before migration 003 written by an older instance during a rolling
 * upgrade; it is read as it is and sealed at its next write.
 */
function openSecret(secrets: SecretBox, stored: string, id: string): string {
  return secrets.isSealed(stored) ? secrets.open(stored, id) : stored;
}

function endpointFromRow(secrets: SecretBox, row: Selectable<WebhookEndpointTable>): WebhookEndpoint {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    url: row.url,
    secret: openSecret(secrets, row.secret, row.id),
    previousSecret: row.previous_secret === null ? null : openSecret(secrets, row.previous_secret, row.id),
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

export function createEndpointGroup(ctx: StoreContext): WebhookEndpointStore & {
  checkSecretKey(): Promise<void>;
} {
  const { db, secrets } = ctx;
  const fromRow = (row: Selectable<WebhookEndpointTable>) => endpointFromRow(secrets, row);
  const update = async (id: string, set: Updateable<WebhookEndpointTable>) => {
    const row = await db
      .updateTable('webhook_endpoints')
      .set({ ...set, updated_at: ctx.now().getTime() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  };

  return {
    async create(input) {
      const now = ctx.now().getTime();
      const id = newId('ep');
      const row = await db
        .insertInto('webhook_endpoints')
        .values({
          id,
          tenant_id: input.tenantId ?? DEFAULT_TENANT,
          url: input.url,
          secret: secrets.seal(input.secret ?? generateWebhookSecret(), id),
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
      return fromRow(row);
    },

    async get(id) {
      const row = await db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      return row ? fromRow(row) : undefined;
    },

    async list(scope = {}) {
      const rows = await db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(fromRow);
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
            secret: secrets.seal(secret ?? generateWebhookSecret(), id),
            // Opened and sealed again: a plaintext one from an older instance gets sealed too.
            previous_secret: secrets.seal(openSecret(secrets, current.secret, id), id),
            previous_secret_expires_at: previousValidUntil.getTime(),
            updated_at: ctx.now().getTime(),
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return fromRow(row);
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
      return row ? fromRow(row) : undefined;
    },

    /**
     * At start, after the migrations: the most recently written sealed secret must open, or the
     * server secret changed since it was written. Failing here (TOCSIN_INVALID_CONFIG) beats
     * sending deliveries whose signatures no receiver can verify.
     */
    async checkSecretKey() {
      const row = await db
        .selectFrom('webhook_endpoints')
        .select(['id', 'secret'])
        .where('secret', 'like', 'v1:%')
        .orderBy('updated_at', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (row) secrets.open(row.secret, row.id);
    },

    async delete(id) {
      const result = await db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}
