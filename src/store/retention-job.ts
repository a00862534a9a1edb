import type { Logger } from '../logger.ts';
import type { Retention, Store } from './store.ts';

/**
 * Enforces retention (alerts, the dedup ledger, delivery logs) once at start and then every
 * `intervalMs`. Several instances may run it at once: each deletion is idempotent.
 */
export function createRetentionJob(deps: {
  store: Pick<Store, 'purge'>;
  retention: Retention;
  logger: Logger;
  intervalMs?: number;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  function purge(): Promise<void> {
    running ??= deps.store
      .purge(deps.retention, now())
      .then((result) => {
        if (Object.values(result).some((count) => count > 0))
          deps.logger.info({ purged: result }, 'retention purge');
      })
      .catch((error: unknown) =>
        deps.logger.warn({ err: error }, 'retention purge failed; trying again later'),
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    start(): void {
      void purge();
      timer = setInterval(() => void purge(), deps.intervalMs ?? 3_600_000);
      timer.unref();
    },
    async close(): Promise<void> {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
