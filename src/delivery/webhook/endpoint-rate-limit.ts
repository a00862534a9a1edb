/**
 * An optional per-endpoint rate limit (TOCSIN_WEBHOOK_RATE_LIMIT, requests per second), as a
 * GCRA (generic cell rate algorithm): each endpoint has a theoretical arrival time; a request
 * may go once that time, less a burst of one second's worth of requests, has come. A caller
 * over the rate waits for its turn inside its own endpoint's lane, so only that endpoint slows.
 *
 * Per process: with several instances, each allows the rate.
 */
export function createEndpointRateLimit(options: { perSecond: number; now?: () => number }) {
  const now = options.now ?? Date.now;
  const intervalMs = 1_000 / options.perSecond;
  const toleranceMs = intervalMs * (Math.max(1, Math.ceil(options.perSecond)) - 1);
  const arrivals = new Map<string, number>();

  function forgetIdle(at: number) {
    for (const [key, tat] of arrivals) if (tat <= at) arrivals.delete(key);
  }

  return {
    /** Resolves when `key` may send; rejects with the signal's reason when aborted while waiting. */
    async acquire(key: string, signal?: AbortSignal): Promise<void> {
      const at = now();
      if (arrivals.size > 10_000) forgetIdle(at);
      const tat = Math.max(arrivals.get(key) ?? at, at);
      const waitMs = Math.max(0, tat - toleranceMs - at);
      arrivals.set(key, tat + intervalMs);
      if (waitMs > 0) await sleep(waitMs, signal);
    },
  };
}

export type EndpointRateLimit = ReturnType<typeof createEndpointRateLimit>;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', abort, { once: true });
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
  });
}
