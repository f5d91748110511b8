/**
 * What to do with a batch after one answer from InfluxDB: a pure function of the outcome, so the
 * policy reads (and is tested) as a table. The executor in `delivery.ts` carries the decision out.
 *
 * - 204: done;
 * - 429, 5xx, network errors, timeouts: retry after the backoff, or after `Retry-After` when sent
 *   (then no probe may cut the wait short: the server asked for it);
 * - 401/403/404: retry at the longest backoff (the data stays; a working probe cuts the wait short);
 * - 413: split in halves; a single line too large is dead-lettered;
 * - 400/422: dead-letter the lines the server names and send the rest; when it names none, split in
 *   halves until the bad lines stand alone.
 */
import { type RetryPolicy, retryDelayMs } from "../backoff";
import type { WriteOutcome } from "../influxClient";

/** The next step for a batch. */
export type Decision =
  | { kind: "done" }
  /** Send the same lines again after `delayMs`; `probe`: a successful health probe may end the wait early. */
  | { kind: "retry"; delayMs: number; probe: boolean }
  /** Send these index ranges (`[from, to)`) of the lines separately, in order. */
  | { kind: "split"; parts: [number, number][] }
  /** Move these line indexes to the dead-letter file; send `rest` (possibly empty) again. */
  | { kind: "dead-letter"; lines: number[]; rest: number[] };

/** What `decide` needs to know about the batch besides the outcome. */
export interface BatchFacts {
  /** Lines in the batch. */
  lineCount: number;
  /** The lines' text without `\n`, asked for only when the server names offending lines. */
  lineTexts: () => readonly string[];
  /** Failed attempts in a row, this one included (1-based). */
  attempt: number;
}

/** Longest exponent of the backoff: enough to reach any sane `maxMs`, small enough never to overflow. */
const MAX_ATTEMPT = 64;

/** The decision for one outcome. */
export function decide(
  outcome: WriteOutcome,
  batch: BatchFacts,
  policy: RetryPolicy,
  random: () => number = Math.random,
): Decision {
  switch (outcome.kind) {
    case "delivered":
      return { kind: "done" };
    case "retry":
      return {
        kind: "retry",
        delayMs: retryDelayMs(Math.min(batch.attempt, MAX_ATTEMPT), policy, outcome.retryAfterMs, random),
        probe: outcome.retryAfterMs === undefined,
      };
    case "unauthorized":
      return { kind: "retry", delayMs: retryDelayMs(MAX_ATTEMPT, policy, undefined, random), probe: true };
    case "too_large":
      return batch.lineCount === 1
        ? { kind: "dead-letter", lines: [0], rest: [] }
        : { kind: "split", parts: halves(batch.lineCount) };
    case "rejected": {
      const named = offendingLines(outcome.message, batch.lineTexts());
      if (named.size > 0) {
        const all = Array.from({ length: batch.lineCount }, (_, index) => index);
        return {
          kind: "dead-letter",
          lines: all.filter((index) => named.has(index)),
          rest: all.filter((index) => !named.has(index)),
        };
      }
      return batch.lineCount === 1
        ? { kind: "dead-letter", lines: [0], rest: [] }
        : { kind: "split", parts: halves(batch.lineCount) };
    }
  }
}

/** The two halves of `count` lines (the first one the larger): the one bisection step. */
export function halves(count: number): [number, number][] {
  const half = Math.ceil(count / 2);
  return [
    [0, half],
    [half, count],
  ];
}

/**
 * Indexes (0-based) of the lines an InfluxDB error message names: `line 3` style references (1-based,
 * as the server counts) and the text quoted in `unable to parse '<line>'`.
 */
export function offendingLines(message: string, lines: readonly string[]): Set<number> {
  const found = new Set<number>();
  for (const match of message.matchAll(/\bline (\d+)\b/gi)) {
    const index = Number(match[1]) - 1;
    if (index >= 0 && index < lines.length) found.add(index);
  }
  for (const match of message.matchAll(/unable to parse '((?:[^']|'(?!: ))*)'/g)) {
    const quoted = match[1]!;
    lines.forEach((line, index) => {
      if (line === quoted) found.add(index);
    });
  }
  return found;
}

/** The metric label of a failed outcome. */
export function failureReason(outcome: Exclude<WriteOutcome, { kind: "delivered" }>): string {
  switch (outcome.kind) {
    case "retry":
      return outcome.reason;
    case "unauthorized":
      return `http_${outcome.status}`;
    case "too_large":
      return "too_large";
    case "rejected":
      return `rejected_${outcome.status}`;
  }
}
