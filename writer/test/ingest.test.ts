import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMetrics, type WriterMetrics } from "../src/metrics";
import { bearerTokenMatcher, type IngestResponse, registerIngest } from "../src/sources/ingest";
import type { EventSink } from "../src/sources/sink";

const TOKEN = "ingest-secret-7c1d";
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Accepts events with an entity_id, filters `sensor.ignored`, rejects the rest, as the pipeline would. */
function judgingSink(): EventSink & { received: unknown[] } {
  const received: unknown[] = [];
  return {
    received,
    async submit(raw) {
      received.push(...raw);
      return raw.map((event, index) => {
        const id = (event as { entity_id?: unknown })?.entity_id;
        if (typeof id !== "string")
          return {
            index,
            status: "rejected" as const,
            reason: "missing_entity_id" as const,
            message: "entity_id is missing",
          };
        if (id === "sensor.ignored")
          return { index, status: "filtered" as const, reason: "excluded" as const, entityId: id };
        return { index, status: "accepted" as const, entityId: id };
      });
    },
  };
}

describe("HTTP ingest", () => {
  let app: FastifyInstance;
  let sink: ReturnType<typeof judgingSink>;
  let accepting: boolean;
  let metrics: WriterMetrics;

  beforeEach(async () => {
    sink = judgingSink();
    accepting = true;
    metrics = createMetrics({ processMetrics: false });
    app = Fastify();
    await registerIngest(
      app,
      { sink, token: TOKEN, bodyLimitBytes: 4096, maxEventsPerRequest: 50, maxEventBytes: 4096, metrics },
      () => accepting,
    );
    await app.ready();
  });
  afterEach(() => app.close());

  it.each([
    ["no Authorization header", {}],
    ["a wrong token", { authorization: "Bearer not-the-token" }],
    ["the token without the Bearer scheme", { authorization: TOKEN }],
    ["a Basic credential", { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString("base64")}` }],
  ])("answers 401 to %s and submits nothing", async (_name, headers) => {
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers,
      payload: [{ entity_id: "light.a", state: "on" }],
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(sink.received).toEqual([]);
  });

  it("answers 413 to a body over the limit", async () => {
    const events = Array.from({ length: 100 }, (_, i) => ({
      entity_id: `sensor.s${i}`,
      state: "1.5",
      attributes: { friendly_name: "x".repeat(20) },
    }));
    const response = await app.inject({ method: "POST", url: "/events", headers: AUTH, payload: events });
    expect(response.statusCode).toBe(413);
    expect(sink.received).toEqual([]);
  });

  it("accepts a JSON array and answers 200 when nothing was rejected", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: AUTH,
      payload: [
        { entity_id: "light.a", state: "on" },
        { entity_id: "sensor.ignored", state: "1" },
      ],
    });
    expect(response.statusCode).toBe(200);
    expect(response.json<IngestResponse>()).toEqual({
      accepted: 1,
      rejected: 0,
      filtered: 1,
      results: [
        { index: 0, status: "accepted", entityId: "light.a" },
        { index: 1, status: "filtered", reason: "excluded", entityId: "sensor.ignored" },
      ],
    });
  });

  it("accepts a single JSON object as one event", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: AUTH,
      payload: { entity_id: "light.a", state: "on" },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json<IngestResponse>().accepted).toBe(1);
  });

  it("answers 207 with a reason per rejected event", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: AUTH,
      payload: [{ entity_id: "light.a", state: "on" }, { state: "on" }],
    });
    expect(response.statusCode).toBe(207);
    const body = response.json<IngestResponse>();
    expect(body).toMatchObject({ accepted: 1, rejected: 1, filtered: 0 });
    expect(body.results![1]).toEqual({
      index: 1,
      status: "rejected",
      reason: "missing_entity_id",
      message: "entity_id is missing",
    });
  });

  it("reads NDJSON, reporting unparseable lines by line number without failing the rest", async () => {
    const payload = [
      '{"entity_id":"light.a","state":"on"}',
      "",
      "{not json",
      '{"entity_id":"lock.door","state":"locked"}',
      "",
    ].join("\n");
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: { ...AUTH, "content-type": "application/x-ndjson" },
      payload,
    });
    expect(response.statusCode).toBe(207);
    const body = response.json<IngestResponse>();
    expect(body).toMatchObject({ accepted: 2, rejected: 1, filtered: 0 });
    expect(body.results!.map((r) => [r.index, r.line, r.status])).toEqual([
      [0, 1, "accepted"],
      [1, 3, "rejected"],
      [2, 4, "accepted"],
    ]);
    expect(body.results![1]!.reason).toBe("invalid_json");
    expect(body.results![1]!.message).toMatch(/JSON/);
    expect(sink.received).toHaveLength(2);
  });

  it("answers 400 to a JSON body that does not parse", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: { ...AUTH, "content-type": "application/json" },
      payload: "[{",
    });
    expect(response.statusCode).toBe(400);
    expect(sink.received).toEqual([]);
  });

  it("answers 415 to other content types", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: { ...AUTH, "content-type": "text/csv" },
      payload: "a,b",
    });
    expect(response.statusCode).toBe(415);
  });

  it("answers 503 with Retry-After while shutting down", async () => {
    accepting = false;
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: AUTH,
      payload: [{ entity_id: "light.a", state: "on" }],
    });
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("5");
    expect(sink.received).toEqual([]);
  });
});

describe("bearerTokenMatcher", () => {
  it("matches only the exact token", () => {
    const matches = bearerTokenMatcher("abc");
    expect(matches("Bearer abc")).toBe(true);
    expect(matches("bearer abc")).toBe(true);
    expect(matches("Bearer abcd")).toBe(false);
    expect(matches("Bearer ab")).toBe(false);
    expect(matches("Bearer ")).toBe(false);
    expect(matches(undefined)).toBe(false);
  });
});
