/**
 * Retry timing shared by delivery (InfluxDB writes) and the sources (reconnects): exponential backoff
 * with jitter, or the server's `Retry-After` when it sent one.
 */

/** Timing of retries. */
export interface RetryPolicy {
  /** First backoff, milliseconds. */
  baseMs: number;
  /** Longest backoff, milliseconds (also the pace of retries while unauthorised). */
  maxMs: number;
}

/** Production retry timing: 1 s doubling to 60 s. */
export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1000, maxMs: 60_000 };

/** Retry-After values above this are capped, so a misconfigured proxy cannot park the writer for days. */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/**
 * Delay before retry number `attempt` (1-based): `Retry-After` when given (plus up to 10 % jitter so
 * many writers do not return at once), else full jitter over `base · 2^(attempt-1)` capped at `max`,
 * never below half of it so a retry storm cannot form.
 */
export function retryDelayMs(
  attempt: number,
  policy: RetryPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS) * (1 + 0.1 * random());
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + (ceiling / 2) * random();
}

/** Resolves after `ms`, or at once when `signal` fires (already or meanwhile). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
