import type { Migration, MigrationProvider } from 'kysely';
import type { StoreDialect } from '../context.ts';
import type { SecretBox } from '../secret-box.ts';
import { initialMigration } from './001-initial.ts';
import { clusterMigration } from './002-cluster.ts';
import { encryptWebhookSecretsMigration } from './003-encrypt-webhook-secrets.ts';
import { rolesAndAuditMigration } from './004-roles-and-audit.ts';
import { previewEventsMigration } from './005-preview-events.ts';
import { ownerSourceMarksMigration } from './006-owner-source-marks.ts';
import { previewTermsMigration } from './007-preview-terms.ts';

/**
 * Migrations in code, so that the build and `tsx` need no folder scan. Names sort in the
 * order they run; never rename or edit a shipped one, add the next number instead.
 */
export function createMigrationProvider(
  dialect: StoreDialect,
  deps: { secrets: SecretBox },
): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      return {
        '001-initial': initialMigration(dialect),
        '002-cluster': clusterMigration(dialect),
        '003-encrypt-webhook-secrets': encryptWebhookSecretsMigration(dialect, deps.secrets),
        '004-roles-and-audit': rolesAndAuditMigration(dialect),
        '005-preview-events': previewEventsMigration(dialect),
        '006-owner-source-marks': ownerSourceMarksMigration(dialect),
        '007-preview-terms': previewTermsMigration(),
      };
    },
  };
}
