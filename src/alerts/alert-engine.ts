import type { IntelEvent } from '../ingest/event-schema.ts';
import type { RuleMatch } from '../rules/compiled-rule.ts';
import type { Alert } from './alert.ts';
import { type MatchRecord, sourceStep } from './match-record.ts';
import { createOwnerStep, type OwnerGroupChange, type OwnerGroupRow } from './owner-step.ts';

export { alertIdOf, ruleGroupKey } from './match-record.ts';
export type { GroupEntry, OwnerGroupState as GroupState } from './owner-step.ts';

/** The tenant of `tocsin match` and of the embedded service's file rules. */
export const engineTenant = 'default';

/**
 * Both steps of the alert engine, one after the other in memory, as `tocsin match`, rule
 * previews and the embedded service run them: the source step (match-record.ts) turns an
 * event's matches into plain alerts and stateful match records, the owner step (owner-step.ts)
 * applies the records at once. Pure; alerts come out in rule order per event, so the service
 * and `tocsin match` give the same alerts for the same ordered stream.
 *
 * Dedup by alert id: with `dedupIds` (one-shot runs such as `tocsin match`, which have no
 * store) the engine remembers the alert ids it gave and drops a repeat; the service leaves it to
 * the store, whose unique alert id drops a replayed alert in the batch's transaction. That is
 * the whole (rule, event) dedup of a plain rule (its id is a function of the two), and what
 * makes an event redelivered after its group's ledger dropped it harmless for a throttle.
 */
export type AlertEngineOptions = {
  /** Record group changes for `takeChanges` (default true); off for one-shot runs. */
  trackChanges?: boolean;
  /** Drop an alert whose id this engine already gave (default false: the store dedups). */
  dedupIds?: boolean;
  tenantId?: string;
};

export type AlertEngine = ReturnType<typeof createAlertEngine>;

export function createAlertEngine(initial: readonly OwnerGroupRow[] = [], options: AlertEngineOptions = {}) {
  const owner = createOwnerStep(initial, { trackChanges: options.trackChanges ?? true });
  const tenantId = options.tenantId ?? engineTenant;
  const given = options.dedupIds ? new Set<string>() : undefined;
  const keep = (alert: Alert): boolean => {
    if (given === undefined) return true;
    if (given.has(alert.id)) return false;
    given.add(alert.id);
    return true;
  };

  function process(event: IntelEvent, matches: readonly RuleMatch[]): Alert[] {
    const alerts: Alert[] = [];
    for (const output of sourceStep(event, matches, tenantId)) {
      if (output.alert) {
        if (keep(output.alert)) alerts.push(output.alert);
      } else {
        for (const alert of owner.apply(output.record)) if (keep(alert)) alerts.push(alert);
      }
    }
    return alerts;
  }

  return {
    process,
    /** The owner step alone, for a record the caller's source step gave. */
    applyRecord: (record: MatchRecord): Alert[] => owner.apply(record),
    forgetRule: (ruleId: string) => owner.forgetRule(ruleId),
    sweep: (now: number) => owner.sweep(now),
    takeChanges: (): OwnerGroupChange[] => owner.takeChanges(),
    rows: () => owner.rows(),
    size: () => owner.size(),
  };
}
