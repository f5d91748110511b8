/** Delivery's view of InfluxDB: which answers, failures, hung writes and probes make it unhealthy, and what clears that. */
import { describe, expect, it } from "vitest";
import { HealthTracker, UNHEALTHY_AFTER_FAILURES } from "../src/delivery/health";
import type { WriteOutcome } from "../src/influxClient";

const delivered: WriteOutcome = { kind: "delivered" };
const unavailable: WriteOutcome = { kind: "retry", reason: "unavailable", message: "503: down" };
const timeout: WriteOutcome = { kind: "retry", reason: "timeout", message: "no answer in 10 s" };
const unauthorized: WriteOutcome = { kind: "unauthorized", status: 401, message: "401: unauthorized" };
const tooLarge: WriteOutcome = { kind: "too_large", message: "413: too large" };
const rejected: WriteOutcome = { kind: "rejected", status: 400, message: "400: bad line" };

/** A tracker on a clock the test moves; `write(outcome)` is one write request answered at once. */
function tracker(healthTimeoutMs = 30_000) {
  let now = 1_000_000;
  const health = new HealthTracker(healthTimeoutMs, () => now);
  return {
    health,
    advance: (ms: number) => (now += ms),
    now: () => now,
    write: (outcome: WriteOutcome | undefined) => health.writeEnded(health.writeStarted(), outcome),
  };
}

describe("HealthTracker", () => {
  it("starts healthy with no failures", () => {
    const { health } = tracker();
    expect(health.verdict()).toEqual({ healthy: true, message: "InfluxDB accepts writes" });
    expect(health.state).toEqual({ unauthorized: false, consecutiveFailures: 0 });
  });

  it("one or two failed writes are a blip; the third in a row is unhealthy, naming the count", () => {
    const { health, write } = tracker();
    expect(UNHEALTHY_AFTER_FAILURES).toBe(3);
    write(unavailable);
    write(unavailable);
    expect(health.verdict().healthy).toBe(true);
    expect(health.state.consecutiveFailures).toBe(2);
    write(unavailable);
    expect(health.verdict()).toEqual({ healthy: false, message: "writes keep failing (3 in a row)" });
  });

  it("a 204 clears failures and records when it came; the last error stays for the status page", () => {
    const { health, write, advance, now } = tracker();
    write(unavailable);
    const failedAt = now();
    advance(500);
    write(unavailable);
    write(unavailable);
    advance(1000);
    write(delivered);
    expect(health.verdict().healthy).toBe(true);
    expect(health.state.consecutiveFailures).toBe(0);
    expect(health.state.lastSuccessAt).toEqual(new Date(now()));
    expect(health.state.lastError).toBe("retry: 503: down");
    expect(health.state.lastErrorAt).toEqual(new Date(failedAt + 500));
  });

  it("a refused token is unhealthy at once, counts as a failure, and a 204 clears it", () => {
    const { health, write } = tracker();
    write(unauthorized);
    expect(health.state.unauthorized).toBe(true);
    expect(health.state.consecutiveFailures).toBe(1);
    expect(health.state.lastError).toBe("unauthorized: 401: unauthorized");
    expect(health.verdict()).toEqual({
      healthy: false,
      message: "InfluxDB refuses the token or the org/bucket is missing",
    });
    write(delivered);
    expect(health.state.unauthorized).toBe(false);
    expect(health.verdict().healthy).toBe(true);
  });

  it("a rejected or too large batch is the data's fault: reported as the last error, no failure of InfluxDB", () => {
    const { health, write } = tracker();
    for (let i = 0; i < 5; i++) {
      write(rejected);
      write(tooLarge);
    }
    expect(health.state.consecutiveFailures).toBe(0);
    expect(health.state.unauthorized).toBe(false);
    expect(health.state.lastError).toBe("too_large: 413: too large");
    expect(health.verdict().healthy).toBe(true);
  });

  it("a cancelled write changes nothing", () => {
    const { health, write } = tracker();
    write(unavailable);
    write(undefined);
    expect(health.state).toEqual({
      unauthorized: false,
      consecutiveFailures: 1,
      lastError: "retry: 503: down",
      lastErrorAt: expect.any(Date),
    });
    expect(health.verdict().healthy).toBe(true);
  });

  it("a write timeout is unhealthy at once, until a 204", () => {
    const { health, write } = tracker();
    write(timeout);
    expect(health.verdict()).toEqual({
      healthy: false,
      message: "the last write had no answer within the write timeout: InfluxDB hangs or is overloaded",
    });
    write(unavailable);
    expect(health.verdict().message).toMatch(/no answer within the write timeout/);
    write(delivered);
    expect(health.verdict().healthy).toBe(true);
  });

  it("a write unanswered for longer than the health timeout is unhealthy before its own timeout ends it", () => {
    const { health, advance } = tracker(30_000);
    const older = health.writeStarted();
    advance(10_000);
    const newer = health.writeStarted();
    advance(20_000);
    // 30 s for the older one: not yet longer than the health timeout.
    expect(health.verdict().healthy).toBe(true);
    advance(1);
    expect(health.verdict()).toEqual({
      healthy: false,
      message: "a write has had no answer for 30 s (health timeout 30 s): InfluxDB hangs",
    });
    advance(14_499);
    expect(health.verdict().message).toBe("a write has had no answer for 45 s (health timeout 30 s): InfluxDB hangs");
    // The older write ends: the newer one has waited 35 s, still too long.
    health.writeEnded(older, undefined);
    expect(health.verdict().message).toMatch(/no answer for 35 s/);
    health.writeEnded(newer, delivered);
    expect(health.verdict().healthy).toBe(true);
  });

  it("a hung write outranks failures and probes in the message; a refused token outranks everything", () => {
    const { health, write, advance } = tracker(1000);
    write(unavailable);
    write(unavailable);
    write(unavailable);
    health.probed(unavailable);
    health.writeStarted();
    advance(5000);
    expect(health.verdict().message).toMatch(/no answer for 5 s \(health timeout 1 s\)/);
    write(unauthorized);
    expect(health.verdict().message).toBe("InfluxDB refuses the token or the org/bucket is missing");
  });

  it("a failing probe is unhealthy at once; a working probe clears only the probe's failure", () => {
    const { health, write } = tracker();
    health.probed(unavailable);
    expect(health.verdict()).toEqual({
      healthy: false,
      message: "InfluxDB does not answer its health probe (retry: 503: down)",
    });
    health.probed(delivered);
    expect(health.verdict().healthy).toBe(true);
    write(unavailable);
    write(unavailable);
    write(unavailable);
    health.probed(delivered);
    expect(health.verdict().message).toBe("writes keep failing (3 in a row)");
    write(timeout);
    health.probed(delivered);
    expect(health.verdict().message).toMatch(/no answer within the write timeout/);
  });

  it("a probe failure outranks the failure count, and a 204 clears it", () => {
    const { health, write } = tracker();
    write(unavailable);
    write(unavailable);
    write(unavailable);
    health.probed(unauthorized);
    expect(health.verdict().message).toBe(
      "InfluxDB does not answer its health probe (unauthorized: 401: unauthorized)",
    );
    write(delivered);
    expect(health.verdict().healthy).toBe(true);
  });

  it("gives each write its own id, so ending one leaves the others counted", () => {
    const { health, advance } = tracker(1000);
    const first = health.writeStarted();
    const second = health.writeStarted();
    expect(second).not.toBe(first);
    advance(2000);
    health.writeEnded(first, delivered);
    expect(health.verdict().healthy).toBe(false);
    health.writeEnded(second, delivered);
    expect(health.verdict().healthy).toBe(true);
  });
});
