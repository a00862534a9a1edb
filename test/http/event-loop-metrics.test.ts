import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/http/metrics.ts';

/** The value of an unlabelled sample in Prometheus text. */
function sampleOf(text: string, name: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

describe('metrics', () => {
  it('exports the event-loop delay (perf_hooks.monitorEventLoopDelay), and a blocked loop shows in it', async () => {
    const metrics = createMetrics();
    // A first scrape resets the histogram: what follows is measured from here.
    await metrics.registry.metrics();
    await sleep(30);
    const blockedUntil = performance.now() + 80;
    while (performance.now() < blockedUntil) {
      // Keep the event loop busy, as a long synchronous match would.
    }
    await sleep(30);
    const text = await metrics.registry.metrics();
    for (const name of ['nodejs_eventloop_lag_p50_seconds', 'nodejs_eventloop_lag_p99_seconds'])
      expect(text).toContain(`# HELP ${name} `);
    expect(sampleOf(text, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0.07);
  });
});
