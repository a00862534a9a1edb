import type { Alert } from './alert.ts';

/**
 * An alert as `tocsin match` writes it, one JSON object per line, and as a rule preview
 * answers it (the two must agree, so both use this): the contract's four fields first, then
 * what helps a reader; `suppressed` only when true.
 */
export type AlertOutput = Pick<
  Alert,
  'ruleId' | 'eventIds' | 'severity' | 'matches' | 'ruleName' | 'group' | 'eventTime' | 'id'
> & { suppressed?: true };

export function alertOutput(alert: Alert): AlertOutput {
  return {
    ruleId: alert.ruleId,
    eventIds: alert.eventIds,
    severity: alert.severity,
    matches: alert.matches,
    ruleName: alert.ruleName,
    group: alert.group,
    eventTime: alert.eventTime,
    id: alert.id,
    ...(alert.suppressed ? { suppressed: true as const } : {}),
  };
}
