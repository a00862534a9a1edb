import { compileApiRule, matchingOf } from '../http/routes/rule-routes.ts';
import type { Logger } from '../logger.ts';
import type { CompiledRule, RuleSet } from '../rules/compiled-rule.ts';
import type { Store, StoredRule } from '../store/store.ts';

/**
 * Keeps this instance's matcher in step with the API rules in the store, for changes made on
 * any instance: it follows the change feed's `rules` channel (a rule id: re-read that rule;
 * no payload: re-read them all). Applying what the matcher already holds is a no-op, so the
 * instance that took the request (which applied the change itself) is not disturbed, and a
 * change heard twice counts once.
 *
 * A rule whose matching changed (query, threshold, throttle) or that was deleted is also
 * forgotten by the local alert engine (`forgetRule`), as the instance that took the request
 * does.
 */
export function createRuleSync(deps: {
  store: Pick<Store, 'rules' | 'changes'>;
  matcher: RuleSet;
  fileRules: () => readonly CompiledRule[];
  forgetRule: (ruleId: string) => void;
  logger: Logger;
}) {
  const log = deps.logger.child({ component: 'rule-sync' });
  let queue: Promise<void> = Promise.resolve();
  let unsubscribe: (() => void) | undefined;

  const isFileRule = (id: string) => deps.fileRules().some((rule) => rule.id === id);

  function current(id: string): CompiledRule | undefined {
    return deps.matcher.rules().find((rule) => rule.id === id);
  }

  function apply(id: string, stored: StoredRule | undefined, held: CompiledRule | undefined): void {
    if (isFileRule(id)) return;
    if (stored === undefined) {
      if (held === undefined || held.origin !== 'api') return;
      deps.matcher.remove(id);
      deps.forgetRule(id);
      log.info({ ruleId: id }, 'rule removed on another instance');
      return;
    }
    const compiled = compileApiRule(stored.document);
    if (held && JSON.stringify(held.definition) === JSON.stringify(compiled.definition)) return;
    deps.matcher.upsert(compiled);
    if (held && matchingOf(held.definition) !== matchingOf(compiled.definition)) deps.forgetRule(id);
    log.info({ ruleId: id }, 'rule changed on another instance');
  }

  async function refreshOne(id: string): Promise<void> {
    apply(id, await deps.store.rules.get(id), current(id));
  }

  async function refreshAll(): Promise<void> {
    const stored = new Map((await deps.store.rules.list()).map((rule) => [rule.id, rule]));
    const held = new Map(deps.matcher.rules().map((rule) => [rule.id, rule]));
    for (const [id, rule] of stored) apply(id, rule, held.get(id));
    for (const [id, rule] of held) if (rule.origin === 'api' && !stored.has(id)) apply(id, undefined, rule);
  }

  /** Refreshes one rule, or all of them; changes are applied one after another. */
  function refresh(id?: string): Promise<void> {
    const run = queue.then(() => (id === undefined ? refreshAll() : refreshOne(id)));
    queue = run.catch((error: unknown) => {
      // The next change or the version check reads the store again.
      log.warn({ err: error, ruleId: id }, 'applying a rule change failed');
    });
    return queue;
  }

  return {
    refresh,
    start(): void {
      unsubscribe = deps.store.changes.on('rules', (id) => void refresh(id));
    },
    async close(): Promise<void> {
      unsubscribe?.();
      await queue;
    },
  };
}

export type RuleSync = ReturnType<typeof createRuleSync>;
