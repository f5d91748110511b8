/**
 * The pipeline end to end against a fake InfluxDB: submit results, unique timestamps per entity,
 * batching by size and by time, routing, statistics, metrics and graceful stop.
 */
import { describe, expect, it } from "vitest";
import { eventually, stateChanged, stateOf, usePipelineHarness } from "./helpers/setup";

const timestampOf = (line: string) => line.slice(line.lastIndexOf(" ") + 1);

describe("pipeline", () => {
  const harness = usePipelineHarness();
  const start = (overrides: Record<string, unknown> = {}) => harness.start(overrides);

  it("answers per event: accepted, rejected with a reason, filtered", async () => {
    const { metrics } = await start({ filters: { exclude: { domains: ["automation"] } } });
    const results = await harness.pipeline.submit(
      [
        { entity_id: "sensor.a", state: "1" },
        { entity_id: "sensor.b" },
        "garbage",
        { entity_id: "automation.x", state: "on" },
        { entity_id: "light.gone", new_state: null },
      ],
      "ingest",
    );
    expect(results).toEqual([
      { index: 0, status: "accepted", entityId: "sensor.a" },
      { index: 1, status: "rejected", reason: "missing_state", message: "state is missing", entityId: "sensor.b" },
      { index: 2, status: "rejected", reason: "not_an_object", message: "the event is not a JSON object" },
      {
        index: 3,
        status: "filtered",
        reason: "excluded",
        message: "excluded by the include/exclude filters",
        entityId: "automation.x",
      },
      {
        index: 4,
        status: "filtered",
        reason: "entity_removed",
        message: "the entity was removed (new_state is null)",
        entityId: "light.gone",
      },
    ]);
    const metricsText = await metrics.registry.metrics();
    expect(metricsText).toContain('writer_events_received_total{source="ingest"} 5');
    expect(metricsText).toContain('writer_events_accepted_total{source="ingest"} 1');
    expect(metricsText).toContain('writer_events_rejected_total{source="ingest",reason="missing_state"} 1');
    expect(metricsText).toContain('writer_events_rejected_total{source="ingest",reason="not_an_object"} 1');
    expect(metricsText).toContain('writer_events_filtered_total{source="ingest",reason="excluded"} 1');
    await eventually(() => harness.fake.acceptedLines().length === 1);
  });

  describe("two distinct events of one entity never share a timestamp (microsecond precision)", () => {
    it("moves the second of two events with the same time one microsecond on", async () => {
      await start();
      const at = "2026-06-01T10:00:00.000001+00:00";
      await harness.pipeline.submit(
        [stateChanged("sensor.t", "1", at), stateChanged("sensor.t", "2", at), stateChanged("sensor.t", "3", at)],
        "test",
      );
      await eventually(() => harness.fake.acceptedLines().length === 3);
      const base = Date.UTC(2026, 5, 1, 10) * 1000 + 1;
      expect(harness.fake.acceptedLines().map(timestampOf)).toEqual([String(base), String(base + 1), String(base + 2)]);
    });

    it("gives events without a time, received together, distinct times", async () => {
      await start();
      const events = Array.from({ length: 50 }, (_, i) => ({ entity_id: "sensor.fast", state: String(i % 2) }));
      await harness.pipeline.submit(events, "test");
      await eventually(() => harness.fake.acceptedLines().length === 50);
      expect(new Set(harness.fake.acceptedLines().map(timestampOf)).size).toBe(50);
    });

    it("does not move an event that lands inside a run of moved ones onto a taken time", async () => {
      await start();
      await harness.pipeline.submit(
        [
          stateChanged("sensor.t", "a", "2026-06-01T10:00:00.000001+00:00"),
          stateChanged("sensor.t", "b", "2026-06-01T10:00:00.000001+00:00"),
          stateChanged("sensor.t", "c", "2026-06-01T10:00:00.000002+00:00"),
        ],
        "test",
      );
      await eventually(() => harness.fake.acceptedLines().length === 3);
      expect(new Set(harness.fake.acceptedLines().map(timestampOf)).size).toBe(3);
    });

    it("keeps the same time for different entities and writes a repeated event (a reconnect snapshot) once", async () => {
      await start();
      const at = "2026-06-01T10:00:00+00:00";
      await harness.pipeline.submit([stateChanged("sensor.a", "1", at), stateChanged("sensor.b", "1", at)], "test");
      const again = await harness.pipeline.submit([stateChanged("sensor.a", "1", at)], "snapshot");
      expect(again[0]!.status).toBe("accepted");
      await harness.pipeline.flush(2000);
      expect(harness.fake.acceptedLines().map(timestampOf)).toEqual([
        String(Date.UTC(2026, 5, 1, 10) * 1000),
        String(Date.UTC(2026, 5, 1, 10) * 1000),
      ]);
    });
  });

  it("sends a batch as soon as it holds batchSize lines", async () => {
    await start({ influxdb: { batchSize: 3, batchTimeoutSeconds: 600 } });
    await harness.pipeline.submit(
      Array.from({ length: 7 }, (_, i) => ({ entity_id: `sensor.s${i}`, state: String(i) })),
      "test",
    );
    await eventually(() => harness.fake.requests.length === 2);
    expect(harness.fake.requests.map((request) => request.lines.length)).toEqual([3, 3]);
    const flushed = await harness.pipeline.flush(2000);
    expect(flushed).toEqual({ drained: true, pendingEvents: 0 });
    expect(harness.fake.requests.map((request) => request.lines.length)).toEqual([3, 3, 1]);
    expect(harness.fake.acceptedLines().map(stateOf).sort()).toEqual(["0", "1", "2", "3", "4", "5", "6"]);
  });

  it("sends an unfilled batch once batchTimeout has passed", async () => {
    await start({ influxdb: { batchSize: 1000, batchTimeoutSeconds: 0.05 } });
    await harness.pipeline.submit(
      Array.from({ length: 5 }, (_, i) => ({ entity_id: "sensor.s", state: String(i) })),
      "test",
    );
    await eventually(() => harness.fake.requests.length === 1);
    expect(harness.fake.requests[0]!.lines).toHaveLength(5);
  });

  it("cuts a large submit into full batches (sent concurrently, so in any order)", async () => {
    await start({ influxdb: { batchSize: 100, batchTimeoutSeconds: 600 } });
    await harness.pipeline.submit(
      Array.from({ length: 250 }, (_, i) => ({ entity_id: "sensor.s", state: String(i) })),
      "test",
    );
    await harness.pipeline.flush(5000);
    expect(harness.fake.requests.map((request) => request.lines.length).sort((a, b) => b - a)).toEqual([100, 100, 50]);
    const states = harness.fake.acceptedLines().map((line) => Number(stateOf(line)));
    expect(states.sort((a, b) => a - b)).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });

  it("routes weather readings to the weather bucket too, and follows routing rules", async () => {
    await start({
      homeAssistant: { url: "http://127.0.0.1:1", token: "ha-token-xyz", weatherEntity: "weather.home" },
      routing: { rules: [{ match: { entityGlobs: ["sensor.score_*"] }, bucket: "sports", mode: "instead" }] },
    });
    await harness.pipeline.submit(
      [
        { entity_id: "weather.home", state: "sunny", attributes: { temperature: 21, humidity: 40, pressure: 1015 } },
        { entity_id: "sensor.score_home", state: "2" },
        { entity_id: "light.kitchen", state: "on" },
      ],
      "test",
    );
    await harness.pipeline.flush(2000);
    expect(harness.fake.acceptedLines("weather_data").map((line) => /entity_id=([^,]+)/.exec(line)![1])).toEqual([
      "weather.home",
    ]);
    expect(harness.fake.acceptedLines("sports_data").map((line) => /entity_id=([^,]+)/.exec(line)![1])).toEqual([
      "sensor.score_home",
    ]);
    const events = harness.fake.acceptedLines("home_assistant_events");
    expect(events.map((line) => /entity_id=([^,]+)/.exec(line)![1])).toEqual(["weather.home", "light.kitchen"]);
    // The weather entity's condition is its own tag; events after its reading carry the reading as fields.
    expect(events[0]).toContain("weather_condition=sunny");
    expect(events[1]).not.toContain("weather_condition");
    expect(events[1]).toContain("weather_temp=21");
    expect(harness.pipeline.weatherStatus()).toMatchObject({ name: "weather", healthy: true });
  });

  it("reports the weather context unhealthy until the weather entity has a reading", async () => {
    await start({ homeAssistant: { url: "http://127.0.0.1:1", token: "ha-token-xyz", weatherEntity: "weather.home" } });
    expect(harness.pipeline.weatherStatus()).toMatchObject({ name: "weather", healthy: false });
    await harness.pipeline.submit(
      [{ entity_id: "weather.home", state: "rainy", attributes: { temperature: 9 } }],
      "test",
    );
    expect(harness.pipeline.weatherStatus()).toMatchObject({
      healthy: true,
      details: { condition: "rainy", temperature: 9 },
    });
  });

  it("drops the weather context while the weather entity is unavailable, instead of tagging events with it", async () => {
    await start({ homeAssistant: { url: "http://127.0.0.1:1", token: "ha-token-xyz", weatherEntity: "weather.home" } });
    await harness.pipeline.submit(
      [
        { entity_id: "weather.home", state: "rainy", attributes: { temperature: 9 } },
        { entity_id: "weather.home", state: "unavailable", attributes: {} },
        { entity_id: "light.kitchen", state: "on" },
      ],
      "test",
    );
    await harness.pipeline.flush(2000);
    const kitchen = harness.fake
      .acceptedLines("home_assistant_events")
      .find((line) => line.includes("entity_id=light.kitchen"))!;
    expect(kitchen).not.toContain("weather_");
    expect(harness.pipeline.weatherStatus()).toMatchObject({ name: "weather", healthy: false });
  });

  it("writes its own statistics to the system bucket", async () => {
    await start({ statsIntervalSeconds: 0.05 });
    await harness.pipeline.submit([{ entity_id: "sensor.a", state: "1" }], "test");
    await eventually(() =>
      harness.fake.acceptedLines("system_metrics").some((line) => line.includes("events_accepted=1")),
    );
    const line = harness.fake
      .acceptedLines("system_metrics")
      .find((candidate) => candidate.includes("events_accepted=1"))!;
    expect(line).toMatch(/^ha_influx_writer,host=\S+ events_received=1,events_accepted=1,/);
  });

  it("reports the influxdb component healthy with spool figures", async () => {
    await start();
    await harness.pipeline.submit([{ entity_id: "sensor.a", state: "1" }], "test");
    await harness.pipeline.flush(2000);
    const status = harness.pipeline.status();
    expect(status).toMatchObject({ name: "influxdb", healthy: true, details: { spoolEvents: 0 } });
    expect(status.lastSuccessAt).toBeDefined();
    expect(await harness.pipeline.checkWritable()).toMatchObject({ ok: true });
  });

  it("flushes on stop and then refuses new events", async () => {
    await start({ influxdb: { batchSize: 1000, batchTimeoutSeconds: 600 } });
    await harness.pipeline.submit(
      Array.from({ length: 20 }, (_, i) => ({ entity_id: "sensor.s", state: String(i) })),
      "test",
    );
    expect(harness.fake.requests).toHaveLength(0);
    const result = await harness.pipeline.stop(5000);
    expect(result).toEqual({ drained: true, pendingEvents: 0 });
    expect(harness.fake.acceptedLines()).toHaveLength(20);
    await expect(harness.pipeline.submit([{ entity_id: "sensor.s", state: "x" }], "test")).rejects.toThrow(
      /not accepting/,
    );
  });
});
