import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../context.ts';
import type { SecretBox } from '../secret-box.ts';

type EndpointSecrets = { id: string; secret: string; previous_secret: string | null };

/**
 * Webhook signing secrets encrypted at rest (issue 12): every plaintext `secret` and
 * `previous_secret` (the one kept valid during a rotation) is sealed in place under the key
 * derived from the server secret (secret-box.ts). Values already sealed are left alone, so a
 * row written by a newer instance meanwhile is not sealed twice. No column changes: the
 * envelope is text, like the secret was.
 *
 * SQLite leaves the old bytes of an updated row in the page's free space and in the WAL:
 * `secure_delete` zeroes the freed space while the rows are rewritten, and the store
 * checkpoints the WAL after migrating (sqlite-store.ts), so no plaintext stays in the files.
 * PostgreSQL's dead tuples are the server's to vacuum.
 */
export function encryptWebhookSecretsMigration(dialect: StoreDialect, secrets: SecretBox): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const typed = db as unknown as Kysely<{ webhook_endpoints: EndpointSecrets }>;
      if (dialect === 'sqlite') await sql`pragma secure_delete = on`.execute(db);
      const rows = await typed
        .selectFrom('webhook_endpoints')
        .select(['id', 'secret', 'previous_secret'])
        .execute();
      for (const row of rows) {
        const secret = secrets.isSealed(row.secret) ? row.secret : secrets.seal(row.secret, row.id);
        const previous =
          row.previous_secret === null || secrets.isSealed(row.previous_secret)
            ? row.previous_secret
            : secrets.seal(row.previous_secret, row.id);
        if (secret === row.secret && previous === row.previous_secret) continue;
        await typed
          .updateTable('webhook_endpoints')
          .set({ secret, previous_secret: previous })
          .where('id', '=', row.id)
          .execute();
      }
      if (dialect === 'sqlite') await sql`pragma secure_delete = off`.execute(db);
    },
  };
}
