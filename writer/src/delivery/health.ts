/**
 * Whether InfluxDB takes writes, from what delivery sees: answers, failures, writes still waiting for
 * an answer, and health probes. A hung InfluxDB answers nothing, so an unanswered write older than the
 * health timeout counts as a failure before its own timeout ends it.
 */
import type { WriteOutcome } from "../influxClient";

/** Health of delivery, as `status()` reports it. */
export interface DeliveryHealth {
  /** The last write was refused for authorisation (or a missing org/bucket). */
  unauthorized: boolean;
  /** Failed write attempts since the last success. */
  consecutiveFailures: number;
  /** The last error, for the status page. */
  lastError?: string;
  /** When the last error happened. */
  lastErrorAt?: Date;
  /** When InfluxDB last answered 204. */
  lastSuccessAt?: Date;
}

/** The verdict `/status` and `/readyz` give. */
export interface HealthVerdict {
  healthy: boolean;
  message: string;
}

/** Failed attempts in a row after which InfluxDB is reported unhealthy (one blip is not an outage). */
export const UNHEALTHY_AFTER_FAILURES = 3;

/** Tracks delivery's view of InfluxDB. */
export class HealthTracker {
  readonly state: DeliveryHealth = { unauthorized: false, consecutiveFailures: 0 };
  private readonly inFlight = new Map<number, number>();
  private nextWrite = 0;
  private timedOut = false;
  private probeFailure: string | undefined;

  constructor(
    private readonly healthTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Notes a write request going out; pass the id to `writeEnded`. */
  writeStarted(): number {
    const id = this.nextWrite++;
    this.inFlight.set(id, this.now());
    return id;
  }

  /** Notes a write request ending with `outcome` (undefined when the writer cancelled it). */
  writeEnded(id: number, outcome: WriteOutcome | undefined): void {
    this.inFlight.delete(id);
    if (outcome === undefined) return;
    if (outcome.kind === "delivered") {
      this.state.unauthorized = false;
      this.state.consecutiveFailures = 0;
      this.state.lastSuccessAt = new Date(this.now());
      this.timedOut = false;
      this.probeFailure = undefined;
      return;
    }
    this.state.lastError = `${outcome.kind}: ${outcome.message}`;
    this.state.lastErrorAt = new Date(this.now());
    if (outcome.kind === "unauthorized") this.state.unauthorized = true;
    if (outcome.kind === "retry" || outcome.kind === "unauthorized") this.state.consecutiveFailures++;
    if (outcome.kind === "retry" && outcome.reason === "timeout") this.timedOut = true;
  }

  /** Notes a health probe's outcome: a failing probe is unhealthy at once; a working one clears only that. */
  probed(outcome: WriteOutcome): void {
    this.probeFailure = outcome.kind === "delivered" ? undefined : `${outcome.kind}: ${outcome.message}`;
  }

  /** The current verdict. */
  verdict(): HealthVerdict {
    if (this.state.unauthorized)
      return { healthy: false, message: "InfluxDB refuses the token or the org/bucket is missing" };
    const oldest = Math.min(...this.inFlight.values());
    const waited = this.now() - oldest;
    if (waited > this.healthTimeoutMs) {
      return {
        healthy: false,
        message: `a write has had no answer for ${Math.round(waited / 1000)} s (health timeout ${this.healthTimeoutMs / 1000} s): InfluxDB hangs`,
      };
    }
    if (this.timedOut)
      return {
        healthy: false,
        message: "the last write had no answer within the write timeout: InfluxDB hangs or is overloaded",
      };
    if (this.probeFailure !== undefined)
      return { healthy: false, message: `InfluxDB does not answer its health probe (${this.probeFailure})` };
    if (this.state.consecutiveFailures >= UNHEALTHY_AFTER_FAILURES) {
      return { healthy: false, message: `writes keep failing (${this.state.consecutiveFailures} in a row)` };
    }
    return { healthy: true, message: "InfluxDB accepts writes" };
  }
}
