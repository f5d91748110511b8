/**
 * The `influxdb` component of `/status` and the `/readyz` answer, from what delivery and the spool
 * report; the words operators read, apart from the pipeline's lifecycle.
 */
import type { ComponentStatus } from "./componentStatus";
import type { Deliverer } from "./delivery";
import type { InfluxClient } from "./influxClient";
import type { Spool } from "./spool";

/** Answer of `checkWritable`, for `/readyz`. */
export interface WritableCheck {
  /** True when InfluxDB answers and accepts writes with the configured token. */
  ok: boolean;
  /** Explanation, free of secrets. */
  message: string;
}

/** A 204 this recent answers /readyz without another probe. */
const RECENT_SUCCESS_MS = 30_000;

/** The pipeline's parts as they are at the moment (absent before `start`). */
export interface HealthSources {
  /** `new`, `running`, `stopping` or `stopped`. */
  state: string;
  spool: Spool | undefined;
  deliverer: Deliverer | undefined;
}

/** Health of the InfluxDB delivery, with the spool's figures. */
export function influxdbStatus({ state, spool, deliverer }: HealthSources): ComponentStatus {
  const health = deliverer?.health;
  const stats = spool?.stats() ?? { bytes: 0, diskBytes: 0, events: 0, droppedEvents: 0, refusedEvents: 0 };
  const details = {
    spoolBytes: stats.bytes,
    spoolEvents: stats.events,
    spoolDroppedEvents: stats.droppedEvents,
    spoolRefusedEvents: stats.refusedEvents,
    spoolDiskBytes: stats.diskBytes,
    spoolFaults: spool?.health().faults ?? [],
    consecutiveFailures: health?.consecutiveFailures ?? 0,
    inMemoryEvents: deliverer?.pendingInMemory() ?? 0,
  };
  const base = {
    name: "influxdb",
    ...(health?.lastError !== undefined ? { lastError: health.lastError } : {}),
    ...(health?.lastErrorAt ? { lastErrorAt: health.lastErrorAt.toISOString() } : {}),
    ...(health?.lastSuccessAt ? { lastSuccessAt: health.lastSuccessAt.toISOString() } : {}),
    details,
  };
  if (health === undefined || deliverer === undefined)
    return { ...base, healthy: false, message: `pipeline is ${state}` };
  const verdict = deliverer.verdict();
  if (!verdict.healthy)
    return { ...base, healthy: false, message: `${verdict.message}; ${stats.events} events kept in the spool` };
  return { ...base, healthy: state === "running", message: `${stats.events} events waiting for delivery` };
}

/** Whether InfluxDB is reachable and the token may write: from delivery's recent answers, else a probe. */
export async function writableCheck(
  deliverer: Deliverer | undefined,
  client: Pick<InfluxClient, "probe">,
  probeBucket: string,
): Promise<WritableCheck> {
  const health = deliverer?.health;
  const verdict = deliverer?.verdict();
  if (verdict !== undefined && !verdict.healthy)
    return { ok: false, message: health?.unauthorized && health.lastError ? health.lastError : verdict.message };
  if (
    health?.lastSuccessAt &&
    health.consecutiveFailures === 0 &&
    Date.now() - health.lastSuccessAt.getTime() < RECENT_SUCCESS_MS
  ) {
    return { ok: true, message: "InfluxDB accepted a write recently" };
  }
  const outcome = await client.probe(probeBucket);
  if (outcome.kind === "delivered")
    return { ok: true, message: "InfluxDB is reachable and accepts writes with this token" };
  return { ok: false, message: `${outcome.kind}: ${outcome.message}` };
}
