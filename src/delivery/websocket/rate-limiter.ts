/**
 * A token bucket: `perSecond` tokens a second, at most `burst` saved up. `take()` spends one
 * and answers whether there was one. Used per connection for the messages a client sends.
 */
export function createRateLimiter(options: { perSecond: number; burst?: number; now?: () => number }) {
  const now = options.now ?? (() => performance.now());
  const burst = options.burst ?? Math.max(1, options.perSecond * 2);
  let tokens = burst;
  let refilledAt = now();

  return {
    take(): boolean {
      const at = now();
      tokens = Math.min(burst, tokens + ((at - refilledAt) / 1000) * options.perSecond);
      refilledAt = at;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
