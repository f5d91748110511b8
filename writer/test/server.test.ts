import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createMetrics } from "../src/metrics";
import type { ComponentStatus, Pipeline, WritableCheck } from "../src/pipeline";
import { createServer, type ServerOptions, type ServiceStatus } from "../src/server";
import type { HomeAssistantSource } from "../src/sources/homeassistant";

/** A pipeline whose health the test sets. */
function fakePipeline(state: {
  influxdb: ComponentStatus;
  weather: ComponentStatus;
  writable: WritableCheck;
}): Pipeline {
  return {
    start: async () => undefined,
    submit: async (raw) => raw.map((_, index) => ({ index, status: "accepted" as const })),
    status: () => state.influxdb,
    weatherStatus: () => state.weather,
    checkWritable: async () => state.writable,
    flush: async () => ({ drained: true, pendingEvents: 0 }),
    stop: async () => ({ drained: true, pendingEvents: 0 }),
  };
}

function fakeHomeAssistant(healthy: boolean): HomeAssistantSource {
  const status: ComponentStatus = {
    name: "websocket_client",
    healthy,
    message: healthy ? "subscribed" : "not subscribed (backoff)",
  };
  return { status: () => status } as unknown as HomeAssistantSource;
}

const influxOk: ComponentStatus = {
  name: "influxdb",
  healthy: true,
  message: "writing",
  lastSuccessAt: "2026-11-27T10:00:00.000Z",
};
const influxDown: ComponentStatus = {
  name: "influxdb",
  healthy: false,
  message: "401 Unauthorized: the token may not write",
  lastError: "401",
};
const weatherOk: ComponentStatus = { name: "weather", healthy: true, message: "cloudy, 11.5" };
const weatherStale: ComponentStatus = { name: "weather", healthy: false, message: "no reading yet" };

describe("observability server", () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function serve(
    overrides: Partial<ServerOptions> & {
      influxdb?: ComponentStatus;
      weather?: ComponentStatus;
      writable?: WritableCheck;
    } = {},
  ) {
    const metrics = createMetrics({ processMetrics: false });
    const pipeline = fakePipeline({
      influxdb: overrides.influxdb ?? influxOk,
      weather: overrides.weather ?? weatherOk,
      writable: overrides.writable ?? { ok: true, message: "InfluxDB 2.7.12 accepts writes to home_assistant_events" },
    });
    app = await createServer({
      pipeline,
      metrics,
      logger: pino({ level: "silent" }),
      weatherConfigured: true,
      ingest: { token: "t0ken-value", maxBodyBytes: 1024, maxEventsPerRequest: 100, maxEventBytes: 1024 },
      isAcceptingEvents: () => true,
      version: "0.1.0",
      startedAt: Date.now(),
      ...overrides,
    });
    return { app, metrics };
  }

  it("answers /healthz with 200 whatever InfluxDB's state", async () => {
    const { app } = await serve({ influxdb: influxDown });
    const response = await app.inject("/healthz");
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "ok" });
  });

  it("answers /readyz from the writability check", async () => {
    let { app } = await serve();
    let response = await app.inject("/readyz");
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      ready: true,
      message: "InfluxDB 2.7.12 accepts writes to home_assistant_events",
    });
    await app.close();

    ({ app } = await serve({ writable: { ok: false, message: "InfluxDB answered 403: the token may not write" } }));
    response = await app.inject("/readyz");
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ ready: false, message: "InfluxDB answered 403: the token may not write" });
  });

  it("reports every component in /status and a healthy service when all work", async () => {
    const { app } = await serve({ homeAssistant: fakeHomeAssistant(true) });
    const response = await app.inject("/status");
    expect(response.statusCode).toBe(200);
    const body = response.json<ServiceStatus>();
    expect(body.status).toBe("healthy");
    expect(body.version).toBe("0.1.0");
    expect(Object.keys(body.components)).toEqual(["websocket_client", "ingest", "influxdb", "weather"]);
    expect(body.components.websocket_client).toMatchObject({ enabled: true, healthy: true, message: "subscribed" });
    expect(body.components.ingest).toMatchObject({ enabled: true, healthy: true });
    expect(body.components.influxdb).toMatchObject({
      enabled: true,
      healthy: true,
      lastSuccessAt: "2026-11-27T10:00:00.000Z",
    });
    expect(body.components.weather).toMatchObject({ enabled: true, healthy: true });
  });

  it.each([
    ["a lost Home Assistant connection", { homeAssistant: fakeHomeAssistant(false) }, "degraded"],
    ["no weather reading", { homeAssistant: fakeHomeAssistant(true), weather: weatherStale }, "degraded"],
    ["InfluxDB refusing writes", { homeAssistant: fakeHomeAssistant(true), influxdb: influxDown }, "unhealthy"],
    ["ingest shutting down", { homeAssistant: fakeHomeAssistant(true), isAcceptingEvents: () => false }, "degraded"],
  ])("reports %s as %s", async (_name, overrides, expected) => {
    const { app } = await serve(overrides);
    expect((await app.inject("/status")).json<ServiceStatus>().status).toBe(expected);
  });

  it("reports unconfigured components as disabled and leaves them out of the verdict", async () => {
    const { app } = await serve({
      weatherConfigured: false,
      weather: weatherStale,
      ingest: { maxBodyBytes: 1024, maxEventsPerRequest: 100, maxEventBytes: 1024 },
    });
    const body = (await app.inject("/status")).json<ServiceStatus>();
    expect(body.status).toBe("healthy");
    expect(body.components.websocket_client).toMatchObject({
      enabled: false,
      message: "not configured (no homeAssistant section)",
    });
    expect(body.components.ingest).toMatchObject({ enabled: false, message: "not configured (no ingest token)" });
    expect(body.components.weather).toMatchObject({ enabled: false, healthy: false });
    expect((await app.inject({ method: "POST", url: "/events", payload: [] })).statusCode).toBe(404);
  });

  it("serves Prometheus metrics with the pipeline's counters and each enabled component's health", async () => {
    const { app, metrics } = await serve({ homeAssistant: fakeHomeAssistant(false) });
    metrics.eventsRejected.inc({ source: "ingest", reason: "invalid_state" }, 3);
    const response = await app.inject("/metrics");
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.body;
    expect(text).toContain('writer_events_rejected_total{source="ingest",reason="invalid_state"} 3');
    expect(text).toContain("# TYPE writer_batch_success_rate gauge");
    expect(text).toContain('writer_component_healthy{component="websocket_client"} 0');
    expect(text).toContain('writer_component_healthy{component="influxdb"} 1');
    expect(text).toContain('writer_component_healthy{component="ingest"} 1');
    expect(text).toContain('writer_component_healthy{component="weather"} 1');
  });

  it("serves ingest on the same port when a token is configured", async () => {
    const { app } = await serve();
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: { authorization: "Bearer t0ken-value" },
      payload: [{ entity_id: "light.a", state: "on" }],
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ accepted: 1 });
  });
});
