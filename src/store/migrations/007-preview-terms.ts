import type { Kysely, Migration } from 'kysely';

/**
 * The preview ring's term text (rules/event-terms.ts): every distinct token of the event, so a
 * preview skips the events a draft rule cannot match without inflating and analysing them.
 * Rows stored before this migration have none (null) and are always read in full.
 */
export function previewTermsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('preview_events').addColumn('terms', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('preview_events').dropColumn('terms').execute();
    },
  };
}
