/**
 * The chaos suite: the built writer CLI against a real influxd, under faults, each scenario bounded
 * in time. Every scenario asserts that each event acknowledged to the client (a 200 from ingest) is
 * stored in InfluxDB — accepted = stored + reported dropped, and reported dropped is 0 here — and that
 * the writer's memory stays bounded, and prints its figures: sent, accepted, stored, lost, reported
 * dropped, refused, peak RSS, recovery time.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildWriter, ChaosInfluxd, ChaosWriter, chaosInfluxd, IngestClient, report, sleep, untilStored } from "./rig";

const binary = chaosInfluxd();
/** Far above the writer's ~100 MB idle RSS, far below what an unbounded heap reaches under these loads. */
const MEMORY_BOUND_MB = 400;

describe.skipIf(binary === undefined)("the writer under chaos, against a real influxd", () => {
  let influxd: ChaosInfluxd;
  let writer: ChaosWriter | undefined;

  beforeAll(() => buildWriter(), 120_000);
  afterEach(async () => {
    writer?.remove();
    writer = undefined;
    await influxd?.remove();
  });

  async function finish(
    scenario: string,
    client: IngestClient,
    running: ChaosWriter,
    recoveryMs: number,
    extra: Record<string, number> = {},
  ) {
    const { stored } = await untilStored(influxd, client, 30_000);
    const lost = client.missingFrom(stored);
    const reportedDropped = await running.metric("writer_spool_dropped_events_total");
    running.sample();
    report(scenario, {
      sent: client.sent,
      accepted: client.acknowledged.size,
      stored: [...client.acknowledged].filter((seq) => stored.has(seq)).length,
      lost,
      reportedDropped,
      refused: client.refused,
      unanswered: client.failed,
      peakRssMb: running.peakRssMb,
      recoveryMs,
      ...extra,
    });
    expect(lost).toBe(reportedDropped);
    expect(lost).toBe(0);
    expect(running.peakRssMb).toBeLessThan(MEMORY_BOUND_MB);
  }

  it("SIGKILL loop during ingest: nothing acknowledged is lost", async () => {
    influxd = new ChaosInfluxd(binary!);
    await influxd.start();
    writer = new ChaosWriter(influxd);
    const client = new IngestClient(writer);
    await writer.start();
    for (let kill = 0; kill < 5; kill++) {
      const until = Date.now() + 1200;
      const posting = (async () => {
        while (Date.now() < until) await client.post(500);
      })();
      await sleep(600 + kill * 100);
      await writer.kill("SIGKILL");
      await posting;
      await writer.start();
      writer.sample();
    }
    for (let i = 0; i < 4; i++) await client.post(500);
    const started = Date.now();
    await untilStored(influxd, client, 30_000);
    await finish("sigkill-loop", client, writer, Date.now() - started, { kills: 5 });
  }, 120_000);

  it("InfluxDB frozen (SIGSTOP) and then killed: health says so, and delivery resumes promptly", async () => {
    influxd = new ChaosInfluxd(binary!);
    await influxd.start();
    writer = new ChaosWriter(influxd);
    const client = new IngestClient(writer);
    await writer.start();
    for (let i = 0; i < 4; i++) await client.post(500);

    influxd.freeze();
    const frozenAt = Date.now();
    for (let i = 0; i < 6; i++) await client.post(500);
    // INFLUXDB_WRITE_TIMEOUT is 2 s: unhealthy within one write timeout (plus a probe's and a poll's time).
    let unhealthyAfterMs = Number.NaN;
    while (Date.now() - frozenAt < 15_000) {
      if (!(await writer.status()).components.influxdb.healthy && (await writer.readyz()) === 503) {
        unhealthyAfterMs = Date.now() - frozenAt;
        break;
      }
      await sleep(100);
    }
    expect(unhealthyAfterMs).toBeLessThan(15_000);
    await sleep(Math.max(0, 6000 - (Date.now() - frozenAt)));
    influxd.thaw();
    const thawRecovery = await untilStored(influxd, client, 30_000);

    await influxd.kill();
    for (let i = 0; i < 6; i++) await client.post(500);
    await sleep(3000);
    await influxd.start();
    const restarted = Date.now();
    await untilStored(influxd, client, 30_000);
    const restartRecoveryMs = Date.now() - restarted;
    writer.sample();
    expect((await writer.status()).components.influxdb.healthy).toBe(true);
    await finish("influxd-frozen-then-killed", client, writer, restartRecoveryMs, {
      unhealthyAfterMs,
      thawRecoveryMs: thawRecovery.ms,
      frozenMs: 6000,
    });
  }, 150_000);

  it("spool at its 1 MiB minimum under overload with InfluxDB down: refused with 503, never dropped", async () => {
    influxd = new ChaosInfluxd(binary!);
    await influxd.start();
    writer = new ChaosWriter(influxd, { WRITER_SPOOL_MAX_BYTES: String(1024 * 1024) });
    const client = new IngestClient(writer);
    await writer.start();
    await influxd.kill();
    let maxDiskBytes = 0;
    for (let i = 0; i < 80; i++) {
      await client.post(250);
      maxDiskBytes = Math.max(maxDiskBytes, writer.spoolDiskBytes());
      writer.sample();
    }
    expect(client.refused).toBeGreaterThan(0);
    expect(maxDiskBytes).toBeLessThanOrEqual(1024 * 1024);
    const status = await writer.status();
    expect(status.components.influxdb.details.spoolEvents).toBe(client.acknowledged.size);
    expect(status.components.influxdb.details.spoolRefusedEvents).toBe(client.refused);
    await influxd.start();
    const started = Date.now();
    await untilStored(influxd, client, 30_000);
    await finish("spool-minimum-overload", client, writer, Date.now() - started, { maxSpoolDiskBytes: maxDiskBytes });
  }, 120_000);

  it("SIGTERM during a retry backoff after InfluxDB returned: the stop's flush delivers everything", async () => {
    influxd = new ChaosInfluxd(binary!);
    await influxd.start();
    writer = new ChaosWriter(influxd);
    const client = new IngestClient(writer);
    await writer.start(["--shutdown-timeout", "8"]);
    await influxd.kill();
    for (let i = 0; i < 20; i++) await client.post(500);
    // Several failed attempts in a row: the shared backoff has grown to seconds.
    await sleep(6000);
    await influxd.start();
    const signalled = Date.now();
    const code = await writer.kill("SIGTERM");
    const stopMs = Date.now() - signalled;
    expect(code).toBe(0);
    expect(writer.output).not.toContain("writer stopped before delivering everything");
    const stored = await influxd.stored();
    const lost = client.missingFrom(stored);
    report("sigterm-during-backoff", {
      sent: client.sent,
      accepted: client.acknowledged.size,
      stored: [...client.acknowledged].filter((seq) => stored.has(seq)).length,
      lost,
      reportedDropped: 0,
      peakRssMb: writer.peakRssMb,
      stopMs,
    });
    expect(lost).toBe(0);
    expect(writer.peakRssMb).toBeLessThan(MEMORY_BOUND_MB);
  }, 120_000);
});
