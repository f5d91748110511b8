/** The delivery policy as a table: one InfluxDB outcome in, one decision out. */
import { describe, expect, it } from "vitest";
import { type Decision, decide, failureReason, halves, offendingLines } from "../src/delivery/decide";
import type { WriteOutcome } from "../src/influxClient";

const policy = { baseMs: 1000, maxMs: 60_000 };
const texts = ["m a=1 1", "m a=oops 2", "m a=3 3", "m a=4 4"];
const batch = (lineCount: number, attempt = 1) => ({ lineCount, attempt, lineTexts: () => texts.slice(0, lineCount) });

describe("decide", () => {
  it.each<[string, WriteOutcome, number, number, Decision]>([
    ["204", { kind: "delivered" }, 4, 1, { kind: "done" }],
    [
      "503, first failure",
      { kind: "retry", reason: "unavailable", message: "down" },
      4,
      1,
      { kind: "retry", delayMs: 1000, probe: true },
    ],
    [
      "a timeout, fourth failure",
      { kind: "retry", reason: "timeout", message: "no answer" },
      4,
      4,
      { kind: "retry", delayMs: 8000, probe: true },
    ],
    [
      "a network error, 30th failure (capped)",
      { kind: "retry", reason: "network", message: "ECONNREFUSED" },
      4,
      30,
      { kind: "retry", delayMs: 60_000, probe: true },
    ],
    [
      "429 with Retry-After (no probe may cut it)",
      { kind: "retry", reason: "rate_limited", message: "slow", retryAfterMs: 5000 },
      4,
      1,
      { kind: "retry", delayMs: 5500, probe: false },
    ],
    [
      "401",
      { kind: "unauthorized", status: 401, message: "401: unauthorized" },
      4,
      1,
      { kind: "retry", delayMs: 60_000, probe: true },
    ],
    [
      "413 on four lines",
      { kind: "too_large", message: "too large" },
      4,
      1,
      {
        kind: "split",
        parts: [
          [0, 2],
          [2, 4],
        ],
      },
    ],
    [
      "413 on three lines",
      { kind: "too_large", message: "too large" },
      3,
      1,
      {
        kind: "split",
        parts: [
          [0, 2],
          [2, 3],
        ],
      },
    ],
    [
      "413 on one line",
      { kind: "too_large", message: "too large" },
      1,
      1,
      { kind: "dead-letter", lines: [0], rest: [] },
    ],
    [
      "400 naming a line by text",
      { kind: "rejected", status: 400, message: "unable to parse 'm a=oops 2': invalid number" },
      4,
      1,
      { kind: "dead-letter", lines: [1], rest: [0, 2, 3] },
    ],
    [
      "422 naming a line by number",
      { kind: "rejected", status: 422, message: "partial write: line 3: field type conflict" },
      4,
      1,
      { kind: "dead-letter", lines: [2], rest: [0, 1, 3] },
    ],
    [
      "422 naming every line",
      { kind: "rejected", status: 422, message: "line 1: bad" },
      1,
      1,
      { kind: "dead-letter", lines: [0], rest: [] },
    ],
    [
      "422 naming none",
      { kind: "rejected", status: 422, message: "dropped 1 points outside retention policy" },
      4,
      1,
      {
        kind: "split",
        parts: [
          [0, 2],
          [2, 4],
        ],
      },
    ],
    [
      "400 naming none, one line",
      { kind: "rejected", status: 400, message: "bad" },
      1,
      1,
      { kind: "dead-letter", lines: [0], rest: [] },
    ],
  ])("%s", (_name, outcome, lines, attempt, expected) => {
    // random() = 1: the top of each jitter window, so the table shows the ceilings.
    expect(decide(outcome, batch(lines, attempt), policy, () => 1)).toEqual(expected);
  });

  it("bisects with the larger half first, covering every line once", () => {
    expect(halves(2)).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(halves(7)).toEqual([
      [0, 4],
      [4, 7],
    ]);
  });

  it("asks for the lines' text only when the server's message might name them", () => {
    let asked = 0;
    const counting = {
      lineCount: 4,
      attempt: 1,
      lineTexts: () => {
        asked++;
        return texts;
      },
    };
    decide({ kind: "too_large", message: "x" }, counting, policy);
    decide({ kind: "retry", reason: "network", message: "x" }, counting, policy);
    expect(asked).toBe(0);
    decide({ kind: "rejected", status: 400, message: "x" }, counting, policy);
    expect(asked).toBe(1);
  });
});

describe("failure labels and named lines", () => {
  it.each<[WriteOutcome & { kind: Exclude<WriteOutcome["kind"], "delivered"> }, string]>([
    [{ kind: "retry", reason: "timeout", message: "x" }, "timeout"],
    [{ kind: "unauthorized", status: 403, message: "x" }, "http_403"],
    [{ kind: "too_large", message: "x" }, "too_large"],
    [{ kind: "rejected", status: 422, message: "x" }, "rejected_422"],
  ])("labels %o as %s", (outcome, label) => {
    expect(failureReason(outcome)).toBe(label);
  });

  it("reads line numbers in any case and ignores numbers outside the batch", () => {
    expect([...offendingLines("LINE 2: bad; line 9: out of range; line 0: none", texts)]).toEqual([1]);
    expect([...offendingLines("inline 3 is not a reference", texts)]).toEqual([]);
  });

  it("a line number must stand alone: not a prefix of a word or of a longer number", () => {
    const twelve = Array.from({ length: 12 }, (_, index) => `m a=${index} ${index}`);
    expect([...offendingLines("line 12: bad", twelve)]).toEqual([11]);
    expect([...offendingLines("line 2a: bad; line 3_4", twelve)]).toEqual([]);
    expect([...offendingLines("line 4: bad", texts)]).toEqual([3]);
    expect([...offendingLines("line 5: bad", texts)]).toEqual([]);
    expect([...offendingLines("line 1 and line 3 and line 1", texts)].sort()).toEqual([0, 2]);
  });

  it("finds every line quoted after 'unable to parse', a quote inside a line included", () => {
    const quoting = ['m s="it\'s" 1', "m a=1 2", "m b=x 3", "m a=1 2"];
    expect([...offendingLines(`unable to parse 'm s="it's" 1': invalid field`, quoting)]).toEqual([0]);
    // Identical lines are all bad; two quoted lines in one message are both found.
    expect(
      [...offendingLines("unable to parse 'm a=1 2': bad; unable to parse 'm b=x 3': bad", quoting)].sort(),
    ).toEqual([1, 2, 3]);
    expect([...offendingLines("unable to parse 'm a=1': bad", quoting)]).toEqual([]);
    expect([...offendingLines("unable to parse '': empty", ["", "m a=1 2"])]).toEqual([0]);
  });

  it("dead-letters the named lines in order and resends the rest in order", () => {
    const decision = decide(
      { kind: "rejected", status: 400, message: "line 4: bad; unable to parse 'm a=oops 2': bad" },
      batch(4),
      policy,
      () => 0,
    );
    expect(decision).toEqual({ kind: "dead-letter", lines: [1, 3], rest: [0, 2] });
  });

  it("retries with the jitter it is given, and never a broken delay however long the outage", () => {
    const network = { kind: "retry", reason: "network", message: "x" } as const;
    expect(decide(network, batch(4, 3), policy, () => 0)).toEqual({ kind: "retry", delayMs: 2000, probe: true });
    expect(decide(network, batch(4, 5000), policy, () => 0)).toEqual({ kind: "retry", delayMs: 30_000, probe: true });
    const noBase = { baseMs: 0, maxMs: 60_000 };
    expect(decide(network, batch(4, 5000), noBase, () => 1)).toEqual({ kind: "retry", delayMs: 0, probe: true });
    expect(decide({ kind: "unauthorized", status: 403, message: "x" }, batch(4), noBase, () => 1)).toEqual({
      kind: "retry",
      delayMs: 0,
      probe: true,
    });
    expect(decide({ kind: "unauthorized", status: 404, message: "x" }, batch(4), policy, () => 0)).toEqual({
      kind: "retry",
      delayMs: 30_000,
      probe: true,
    });
  });
});
