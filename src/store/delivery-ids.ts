import { createHash } from 'node:crypto';

const digestOf = (parts: readonly string[]): string =>
  createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);

/**
 * A delivery job's id is a function of what it delivers, so replaying a batch makes the same
 * id (and the outbox ignores it); it becomes `webhook-id` and the email `Message-ID`.
 */
export function deliveryJobId(alertId: string, subscriptionId: string): string {
  return `dlv_${digestOf([alertId, subscriptionId])}`;
}

/** One digest per subscription and period, however many instances try to build it. */
export function digestJobId(subscriptionId: string, periodKey: string): string {
  return `dgst_${digestOf([subscriptionId, periodKey])}`;
}
