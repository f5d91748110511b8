/** Bounded work per ingest request and the input contract: limits, summaries, content types, UTF-8, metrics. */
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { createMetrics, type WriterMetrics } from "../src/metrics";
import type { SubmitResult } from "../src/pipeline";
import { DETAILED_RESULTS_UP_TO, type IngestResponse, registerIngest, SUMMARY_REJECTIONS } from "../src/sources/ingest";
import { splitBody } from "../src/sources/ingestBody";
import type { EventSink } from "../src/sources/sink";

const TOKEN = "ingest-secret-7c1d";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const NDJSON = { ...AUTH, "content-type": "application/x-ndjson" };
const JSON_TYPE = { ...AUTH, "content-type": "application/json" };

/** Accepts `light.*`, rejects everything else as the pipeline would; records each submit call's size. */
function recordingSink(): EventSink & { calls: number[]; onSubmit?: () => void } {
  const sink: EventSink & { calls: number[]; onSubmit?: () => void } = {
    calls: [],
    async submit(raw) {
      sink.calls.push(raw.length);
      sink.onSubmit?.();
      return raw.map((event, index): SubmitResult => {
        const id = (event as { entity_id?: unknown })?.entity_id;
        return typeof id === "string" && id.startsWith("light.")
          ? { index, status: "accepted", entityId: id }
          : { index, status: "rejected", reason: "invalid_entity_id", message: "not a light" };
      });
    },
  };
  return sink;
}

async function metricValue(metrics: WriterMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const sample = metric?.values.find((v) => Object.entries(labels).every(([key, value]) => v.labels[key] === value));
  return sample?.value ?? 0;
}

describe("ingest limits and contract", () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function serve(
    options: {
      maxEventsPerRequest?: number;
      bodyLimitBytes?: number;
      maxEventBytes?: number;
      sink?: ReturnType<typeof recordingSink>;
    } = {},
  ) {
    const sink = options.sink ?? recordingSink();
    const metrics = createMetrics({ processMetrics: false });
    app = Fastify();
    app.get("/healthz", async () => ({ status: "ok" }));
    await registerIngest(
      app,
      {
        sink,
        token: TOKEN,
        bodyLimitBytes: options.bodyLimitBytes ?? 16 * 1024 * 1024,
        maxEventsPerRequest: options.maxEventsPerRequest ?? 10_000,
        maxEventBytes: options.maxEventBytes ?? 256 * 1024,
        metrics,
      },
      () => true,
    );
    await app.ready();
    return { app, sink, metrics };
  }

  it("answers 413 naming the limit to an NDJSON body of more events than allowed, and submits nothing", async () => {
    const { app, sink, metrics } = await serve({ maxEventsPerRequest: 10_000 });
    const payload = "0\n".repeat(5_000_000); // the hostile body: 10 MB, 5M lines
    const response = await app.inject({ method: "POST", url: "/events", headers: NDJSON, payload });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toEqual({
      error: "the body has more than 10000 events (ingest.maxEventsPerRequest); send them in smaller requests",
      reason: "too_many_events",
      limit: 10_000,
    });
    expect(sink.calls).toEqual([]);
    expect(await metricValue(metrics, "writer_ingest_requests_rejected_total", { reason: "too_many_events" })).toBe(1);
  });

  it("answers 413 to a JSON array of more elements than allowed before parsing any", async () => {
    const { app, sink } = await serve({ maxEventsPerRequest: 10_000 });
    const payload = `[${"0,".repeat(4_999_999)}0]`; // 10 MB, 5M zeros
    const response = await app.inject({ method: "POST", url: "/events", headers: JSON_TYPE, payload });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ reason: "too_many_events", limit: 10_000 });
    expect(sink.calls).toEqual([]);
  });

  it.each([
    ["NDJSON", NDJSON, (events: string[]) => events.join("\n")],
    ["a JSON array", JSON_TYPE, (events: string[]) => `[${events.join(",")}]`],
  ])(
    "answers 413 too_complex to %s of more objects and arrays than 64 per allowed event",
    async (_name, headers, body) => {
      const { app, sink, metrics } = await serve({ maxEventsPerRequest: 2 });
      const nested = `{"entity_id":"light.a","state":"on","attributes":{"x":[${"{},".repeat(130)}{}]}}`;
      const response = await app.inject({ method: "POST", url: "/events", headers, payload: body([nested]) });
      expect(response.statusCode).toBe(413);
      expect(response.json()).toMatchObject({ reason: "too_complex", limit: 128 });
      expect(sink.calls).toEqual([]);
      expect(await metricValue(metrics, "writer_ingest_requests_rejected_total", { reason: "too_complex" })).toBe(1);
    },
  );

  it("does not count brackets inside strings as objects", async () => {
    const { app } = await serve({ maxEventsPerRequest: 2 });
    const payload = JSON.stringify([
      { entity_id: "light.a", state: "on", attributes: { friendly_name: "{[".repeat(300) } },
    ]);
    expect((await app.inject({ method: "POST", url: "/events", headers: JSON_TYPE, payload })).statusCode).toBe(200);
    expect(
      (await app.inject({ method: "POST", url: "/events", headers: NDJSON, payload: payload.slice(1, -1) })).statusCode,
    ).toBe(200);
  });

  it("takes exactly the limit", async () => {
    const { app } = await serve({ maxEventsPerRequest: 3 });
    const events = [1, 2, 3].map((i) => ({ entity_id: `light.l${i}`, state: "on" }));
    const response = await app.inject({ method: "POST", url: "/events", headers: JSON_TYPE, payload: events });
    expect(response.statusCode).toBe(200);
    expect(response.json<IngestResponse>().accepted).toBe(3);
  });

  it("names the byte limit in its 413 to a body over ingest.maxBodyBytes", async () => {
    const { app, metrics } = await serve({ bodyLimitBytes: 100 });
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: JSON_TYPE,
      payload: JSON.stringify([{ entity_id: "light.a", state: "x".repeat(200) }]),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toEqual({
      error: "the body is over 100 bytes (ingest.maxBodyBytes)",
      reason: "body_too_large",
      limit: 100,
    });
    expect(await metricValue(metrics, "writer_ingest_requests_rejected_total", { reason: "body_too_large" })).toBe(1);
  });

  it("summarises a large body: counts, reasons and the first rejections with index and line", async () => {
    const { app } = await serve();
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++)
      lines.push(
        i % 3 === 0
          ? "{broken"
          : i % 3 === 1
            ? `{"entity_id":"light.l${i}","state":"on"}`
            : `{"entity_id":"sensor.s${i}","state":"1"}`,
      );
    const response = await app.inject({ method: "POST", url: "/events", headers: NDJSON, payload: lines.join("\n") });
    expect(response.statusCode).toBe(207);
    const body = response.json<IngestResponse>();
    expect(body).toMatchObject({
      accepted: 1000,
      rejected: 2000,
      filtered: 0,
      reasons: { invalid_json: 1000, invalid_entity_id: 1000 },
    });
    expect(body.results).toBeUndefined();
    expect(body.rejections).toHaveLength(SUMMARY_REJECTIONS);
    expect(body.rejections!.slice(0, 2)).toEqual([
      { index: 0, line: 1, status: "rejected", reason: "invalid_json", message: expect.stringMatching(/JSON/) },
      { index: 2, line: 3, status: "rejected", reason: "invalid_entity_id", message: "not a light" },
    ]);
    expect(body.rejections!.at(-1)).toMatchObject({ index: 149, line: 150 });
    // The answer stays small whatever the body: no object per event.
    expect(response.body.length).toBeLessThan(20_000);
  });

  it(`lists every event for bodies of up to ${DETAILED_RESULTS_UP_TO} events`, async () => {
    const { app } = await serve();
    const events = Array.from({ length: DETAILED_RESULTS_UP_TO }, (_, i) => ({
      entity_id: `light.l${i}`,
      state: "on",
    }));
    const body = (
      await app.inject({ method: "POST", url: "/events", headers: JSON_TYPE, payload: events })
    ).json<IngestResponse>();
    expect(body.results).toHaveLength(DETAILED_RESULTS_UP_TO);
    expect(body.results![999]).toEqual({ index: 999, status: "accepted", entityId: "light.l999" });
  });

  it("submits a big body in chunks and answers /healthz while it works through them", async () => {
    const sink = recordingSink();
    const { app } = await serve({ sink, maxEventsPerRequest: 50_000 });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    let healthAnsweredAtCall: number | undefined;
    sink.onSubmit = () => {
      if (sink.calls.length !== 1) return;
      sink.onSubmit = undefined;
      void fetch(`${base}/healthz`).then(() => {
        healthAnsweredAtCall = sink.calls.length;
      });
    };
    const payload = Array.from({ length: 20_000 }, (_, i) => `{"entity_id":"light.l${i}","state":"on"}`).join("\n");
    const response = await fetch(`${base}/events`, { method: "POST", headers: NDJSON, body: payload });
    expect(response.status).toBe(200);
    expect(sink.calls).toEqual(Array.from({ length: 20 }, () => 1000));
    // Asked while the first chunk was being submitted, /healthz was answered before the last chunk.
    expect(healthAnsweredAtCall).toBeDefined();
    expect(healthAnsweredAtCall!).toBeLessThan(20);
  });

  it("answers 503 with Retry-After when storing fails part-way, saying what was stored", async () => {
    const sink = recordingSink();
    const submit = sink.submit.bind(sink);
    sink.submit = async (raw, source) => {
      if (sink.calls.length === 2) throw new Error("spool is full");
      return submit(raw, source);
    };
    const { app } = await serve({ sink });
    const payload = Array.from({ length: 2500 }, (_, i) => `{"entity_id":"light.l${i}","state":"on"}`).join("\n");
    const response = await app.inject({ method: "POST", url: "/events", headers: NDJSON, payload });
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("5");
    expect(response.json()).toMatchObject({ unprocessedFrom: 2000 });
  });

  it.each([
    ["text/plain", "text/plain"],
    ["text/csv", "text/csv"],
    ["JSON in UTF-16", "application/json; charset=utf-16"],
    ["NDJSON in latin1", "application/x-ndjson; charset=iso-8859-1"],
  ])("answers 415 to %s and submits nothing", async (_name, contentType) => {
    const { app, sink, metrics } = await serve();
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: { ...AUTH, "content-type": contentType },
      payload: '{"entity_id":"light.a","state":"on"}',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json()).toMatchObject({
      reason: "unsupported_media_type",
      error: expect.stringContaining("application/json"),
    });
    expect(sink.calls).toEqual([]);
    expect(
      await metricValue(metrics, "writer_ingest_requests_rejected_total", { reason: "unsupported_media_type" }),
    ).toBe(1);
  });

  it.each([
    "application/json; charset=utf-8",
    "application/json; charset=UTF-8",
    'application/x-ndjson; charset="utf-8"',
  ])("takes %s", async (contentType) => {
    const { app } = await serve();
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: { ...AUTH, "content-type": contentType },
      payload: '{"entity_id":"light.a","state":"on"}',
    });
    expect(response.statusCode).toBe(200);
  });

  it("rejects NDJSON lines that are not UTF-8 with a reason, counts them, and takes the other lines", async () => {
    const { app, sink, metrics } = await serve();
    const payload = Buffer.concat([
      Buffer.from('{"entity_id":"light.a","state":"on"}\n{"entity_id":"light.b","state":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}\n{"entity_id":"light.c","state":"caf\u00e9"}\n'),
    ]);
    const response = await app.inject({ method: "POST", url: "/events", headers: NDJSON, payload });
    expect(response.statusCode).toBe(207);
    const body = response.json<IngestResponse>();
    expect(body.results).toEqual([
      { index: 0, line: 1, status: "accepted", entityId: "light.a" },
      { index: 1, line: 2, status: "rejected", reason: "invalid_utf8", message: "the line is not valid UTF-8" },
      { index: 2, line: 3, status: "accepted", entityId: "light.c" },
    ]);
    expect(sink.calls).toEqual([2]);
    expect(
      await metricValue(metrics, "writer_events_rejected_total", { source: "ingest", reason: "invalid_utf8" }),
    ).toBe(1);
  });

  it("answers 400 invalid_utf8 to a JSON body that is not UTF-8", async () => {
    const { app, sink } = await serve();
    const payload = Buffer.concat([
      Buffer.from('[{"entity_id":"light.a","state":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}]'),
    ]);
    const response = await app.inject({ method: "POST", url: "/events", headers: JSON_TYPE, payload });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ reason: "invalid_utf8" });
    expect(sink.calls).toEqual([]);
  });

  it("counts every unreadable NDJSON line in the rejected and received metrics", async () => {
    const { app, metrics } = await serve();
    const payload = ["{bad", '{"entity_id":"light.a","state":"on"}', "nope", "[1,"].join("\n");
    await app.inject({ method: "POST", url: "/events", headers: NDJSON, payload });
    expect(
      await metricValue(metrics, "writer_events_rejected_total", { source: "ingest", reason: "invalid_json" }),
    ).toBe(3);
    // The sink (the pipeline) counts what it receives itself; ingest adds the lines it could not read.
    expect(await metricValue(metrics, "writer_events_received_total", { source: "ingest" })).toBe(3);
  });

  it("rejects an unreadable element of a JSON array by its index and takes the others", async () => {
    const { app, sink } = await serve();
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: JSON_TYPE,
      payload: '[{"entity_id":"light.a","state":"on"}, {bad}]',
    });
    expect(response.statusCode).toBe(207);
    expect(response.json<IngestResponse>().results).toEqual([
      { index: 0, status: "accepted", entityId: "light.a" },
      { index: 1, status: "rejected", reason: "invalid_json", message: expect.stringMatching(/JSON/) },
    ]);
    expect(sink.calls).toEqual([1]);
  });

  it("rejects an event over ingest.maxEventBytes without parsing it", async () => {
    const { app, sink, metrics } = await serve({ maxEventBytes: 100 });
    const big = JSON.stringify({
      entity_id: "light.b",
      state: "on",
      attributes: {
        x: [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}],
      },
    });
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: NDJSON,
      payload: `{"entity_id":"light.a","state":"on"}\n${big}`,
    });
    expect(response.statusCode).toBe(207);
    expect(response.json<IngestResponse>().results![1]).toEqual({
      index: 1,
      line: 2,
      status: "rejected",
      reason: "event_too_large",
      message: `the event is ${big.length} bytes; at most 100 (ingest.maxEventBytes)`,
    });
    expect(sink.calls).toEqual([1]);
    expect(
      await metricValue(metrics, "writer_events_rejected_total", { source: "ingest", reason: "event_too_large" }),
    ).toBe(1);
  });

  it("parses and submits at most about 256 KiB of event text at a time", async () => {
    const { app, sink } = await serve();
    const payload = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({ entity_id: `light.l${i}`, state: "on", attributes: { pad: "p".repeat(100_000) } }),
    ).join("\n");
    const response = await app.inject({ method: "POST", url: "/events", headers: NDJSON, payload });
    expect(response.statusCode).toBe(200);
    expect(sink.calls).toEqual([...Array.from({ length: 13 }, () => 3), 1]);
  });
});

describe("splitBody", () => {
  const texts = async (text: string, format: "json" | "ndjson" = "json", max = 100) => {
    const body = Buffer.from(text);
    const split = await splitBody(body, format, max);
    return split.kind === "entries" ? split.entries.map((e) => body.toString("utf8", e.start, e.end)) : split;
  };

  it("splits a JSON array at its top-level commas only", async () => {
    expect(await texts(' [ {"a":"x,]\\"}"} , [1,[2]] ,"s",3 ] ')).toEqual(['{"a":"x,]\\"}"}', "[1,[2]]", '"s"', "3"]);
    expect(await texts("[]")).toEqual([]);
    expect(await texts('\ufeff{"a":1}')).toEqual(['{"a":1}']);
  });

  it.each([["[1,,2]"], ["[1,]"], ["[,1]"], ["[1"], ["[1]x"], ["[}]"], ["[1]]"]])(
    "refuses the malformed array %s",
    async (text) => {
      expect(await texts(text)).toMatchObject({ kind: "invalid", reason: "invalid_json" });
    },
  );

  it("finds the non-blank NDJSON lines with their numbers, CRLF included", async () => {
    const body = Buffer.from('{"a":1}\r\n\n  \n{"b":2}');
    const split = await splitBody(body, "ndjson", 10);
    expect(split).toEqual({
      kind: "entries",
      entries: [
        { start: 0, end: 7, line: 1 },
        { start: 13, end: 20, line: 4 },
      ],
      array: false,
    });
  });

  it("stops counting at the limit", async () => {
    expect(await texts("[1,2,3]", "json", 2)).toEqual({ kind: "too_many_events", limit: 2 });
    expect(await texts("1\n2\n3", "ndjson", 2)).toEqual({ kind: "too_many_events", limit: 2 });
    expect(await texts("1\n2\n\n", "ndjson", 2)).toEqual(["1", "2"]);
  });

  it("gives the event loop turns while scanning a large body", async () => {
    let turns = 0;
    let running = true;
    const tick = () => {
      turns++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const split = await splitBody(Buffer.from("\n".repeat(1_000_000)), "ndjson", 10);
    running = false;
    expect(split).toMatchObject({ kind: "invalid", reason: "empty_body" });
    expect(turns).toBeGreaterThanOrEqual(10);
  });
});
