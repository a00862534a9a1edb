import { Gauge, type Registry } from 'prom-client';

/**
 * The digest scheduler's metrics, on the app's registry: when it last finished a pass, and how
 * many subscriptions have an ended period it could not build (the next pass tries again). Every
 * instance runs a scheduler, so an operator takes the max over instances.
 */
export function createDigestMetrics(registry: Registry) {
  const lastPass = new Gauge({
    name: 'tocsin_digest_last_pass_timestamp_seconds',
    help: 'Unix time of the digest scheduler’s last finished pass (passes run at least every minute)',
    registers: [registry],
  });
  const overdue = new Gauge({
    name: 'tocsin_digest_overdue_subscriptions',
    help: 'Email subscriptions whose ended digest period failed to build in the last pass',
    registers: [registry],
  });
  return {
    passed(at: Date, unbuilt: number): void {
      lastPass.set(at.getTime() / 1000);
      overdue.set(unbuilt);
    },
  };
}

export type DigestMetrics = ReturnType<typeof createDigestMetrics>;
