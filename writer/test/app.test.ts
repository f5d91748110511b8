import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RunningWriter, startWriter } from "../src/app";
import type { ServiceStatus } from "../src/server";
import { FakeHomeAssistant, haState } from "./fake-homeassistant";
import { eventually } from "./helpers/eventually";
import { type FakeInflux, startFakeInflux } from "./helpers/fakeInflux";
import { memoryLogger, tempDir, testConfig } from "./helpers/setup";

const HA_TOKEN = "ha-token-for-app-test";
const INGEST_TOKEN = "ingest-token-for-app-test";
const EVENTS_BUCKET = "home_assistant_events";

describe("startWriter", () => {
  let influx: FakeInflux;
  let ha: FakeHomeAssistant;
  let spool: ReturnType<typeof tempDir>;
  let writer: RunningWriter | undefined;
  let logLines: string[];

  beforeEach(async () => {
    influx = await startFakeInflux();
    ha = await FakeHomeAssistant.start(HA_TOKEN);
    spool = tempDir();
  });
  afterEach(async () => {
    await writer?.stop(5_000);
    writer = undefined;
    await ha.close();
    await influx.close();
    spool.remove();
  });

  async function start(homeAssistant: Record<string, unknown> = {}) {
    const memory = memoryLogger();
    logLines = memory.lines;
    const config = testConfig(influx.url, spool.dir, {
      homeAssistant: {
        url: ha.url,
        token: HA_TOKEN,
        weatherEntity: "weather.home",
        snapshotOnStart: false,
        ...homeAssistant,
      },
      ingest: { host: "127.0.0.1", port: 0, token: INGEST_TOKEN },
    });
    writer = await startWriter(config, { logger: memory.logger });
    return writer;
  }

  it("connects to Home Assistant and writes its events with the weather entity's context", async () => {
    ha.states = [haState("weather.home", "rainy", { temperature: 9.5, humidity: 91, pressure: 1002 })];
    const writer = await start();
    await eventually(async () => {
      const status = (await (await fetch(`${writer.url}/status`)).json()) as ServiceStatus;
      expect(status.components.websocket_client.healthy).toBe(true);
      expect(status.components.weather.healthy).toBe(true);
      expect(status.status).toBe("healthy");
    });

    ha.emit({
      entity_id: "light.kitchen",
      old_state: haState("light.kitchen", "off"),
      new_state: haState("light.kitchen", "on", { friendly_name: "Kitchen" }),
    });
    await eventually(() =>
      expect(influx.acceptedLines(EVENTS_BUCKET).some((line) => line.includes("entity_id=light.kitchen"))).toBe(true),
    );
    const line = influx.acceptedLines(EVENTS_BUCKET).find((l) => l.includes("entity_id=light.kitchen"))!;
    // The weather entity's condition is its own tag; other entities carry the reading as fields only.
    expect(line).not.toContain("weather_condition");
    expect(line).toContain("weather_temp=9.5");
  });

  it("serves ingest, probes and metrics on one port, and stops draining what it accepted", async () => {
    const writer = await start();
    const response = await fetch(`${writer.url}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${INGEST_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify([
        { entity_id: "sensor.outdoor_temperature", state: "4.5", timestamp: "2026-11-27T08:00:00Z" },
        { entity_id: "sensor.outdoor_temperature", state: "NaN-ish", timestamp: "not a time" },
      ]),
    });
    expect(response.status).toBe(207);
    expect(((await response.json()) as { results: unknown[] }).results).toMatchObject([
      { index: 0, status: "accepted" },
      { index: 1, status: "rejected", reason: "invalid_timestamp" },
    ]);
    expect((await fetch(`${writer.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${writer.url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${writer.url}/metrics`)).text()).toMatch(
      /writer_events_accepted_total\{source="ingest"\} 1/,
    );

    const result = await writer.stop(5_000);
    expect(result).toEqual({ drained: true, pendingEvents: 0 });
    expect(
      influx.acceptedLines(EVENTS_BUCKET).filter((l) => l.includes("entity_id=sensor.outdoor_temperature")),
    ).toHaveLength(1);
    await expect(fetch(`${writer.url}/healthz`)).rejects.toThrow();
    expect(logLines.join("\n")).not.toContain(HA_TOKEN);
    expect(logLines.join("\n")).not.toContain(INGEST_TOKEN);
  });

  it("reports a rejected Home Assistant token in /status and /readyz, with the reason", async () => {
    const writer = await start({ token: "not-the-token" });
    await eventually(() => expect(ha.presentedTokens.length).toBeGreaterThan(0));
    // Home Assistant has the token; the writer reports the rejection once its answer has arrived
    await eventually(() => {
      const status = writer.status();
      expect(status.status).toBe("degraded");
      expect(status.components.websocket_client).toMatchObject({ enabled: true, healthy: false });
      expect(status.components.websocket_client.message).toMatch(
        /rejected the access token: Invalid access token or password; next login attempt at/,
      );
    });
    const ready = await fetch(`${writer.url}/readyz`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).message).toMatch(/rejected the access token/);
    await writer.stop(1000);
  });
});
