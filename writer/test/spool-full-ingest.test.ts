/** HTTP ingest when storing fails: 503 with Retry-After, and nothing of the request counted as accepted. */
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../src/metrics";
import { createPipeline } from "../src/pipeline";
import { registerIngest } from "../src/sources/ingest";
import { SinkFullError } from "../src/sources/sink";
import { SpoolFullError } from "../src/spool";
import { startFakeInflux } from "./helpers/fakeInflux";
import { memoryLogger, tempDir, testConfig } from "./helpers/setup";

describe("ingest at a full spool", () => {
  it("answers 503 with Retry-After and says nothing was accepted", async () => {
    const app = Fastify();
    const sink = {
      submit: async () =>
        Promise.reject(new SinkFullError("the spool is full (1048000 of 1048576 bytes); 2 events refused", 5)),
    };
    await registerIngest(
      app,
      {
        sink,
        token: "t0ken-for-ingest",
        bodyLimitBytes: 4096,
        maxEventsPerRequest: 100,
        maxEventBytes: 4096,
        metrics: createMetrics({ processMetrics: false }),
      },
      () => true,
    );
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: { authorization: "Bearer t0ken-for-ingest" },
      payload: [
        { entity_id: "light.a", state: "on" },
        { entity_id: "light.b", state: "off" },
      ],
    });
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("5");
    expect(response.json()).toMatchObject({ error: expect.stringContaining("nothing of this request was accepted") });
    await app.close();
  });

  it("answers any other submit error with 503, saying from which event on nothing was stored", async () => {
    const app = Fastify({ logger: false });
    const sink = { submit: async () => Promise.reject(new Error("disk on fire")) };
    await registerIngest(
      app,
      {
        sink,
        token: "t0ken-for-ingest",
        bodyLimitBytes: 4096,
        maxEventsPerRequest: 100,
        maxEventBytes: 4096,
        metrics: createMetrics({ processMetrics: false }),
      },
      () => true,
    );
    const response = await app.inject({
      method: "POST",
      url: "/events",
      headers: { authorization: "Bearer t0ken-for-ingest" },
      payload: [{ entity_id: "light.a", state: "on" }],
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ error: expect.stringContaining("disk on fire"), unprocessedFrom: 0 });
    await app.close();
  });

  it("with the real pipeline: a full spool reaches ingest as the sink's refusal, answered 503 with Retry-After", async () => {
    const fake = await startFakeInflux();
    fake.answer = () => ({ status: 503, body: { code: "unavailable", message: "down" } });
    const spool = tempDir();
    const metrics = createMetrics({ processMetrics: false });
    const pipeline = createPipeline(
      testConfig(fake.url, spool.dir, { spool: { dir: spool.dir, maxBytes: 1024 * 1024 } }),
      {
        logger: memoryLogger().logger,
        metrics,
        retry: { baseMs: 20, maxMs: 50 },
      },
    );
    await pipeline.start();
    const app = Fastify();
    try {
      // The pipeline's own refusal, as a source sees it: the sink's error, the spool's as its cause.
      const refusal = await (async () => {
        for (let round = 0; round < 100; round++) {
          try {
            await pipeline.submit(events(500, round * 500), "ingest");
          } catch (error) {
            return error;
          }
        }
      })();
      expect(refusal).toBeInstanceOf(SinkFullError);
      expect((refusal as SinkFullError).cause).toBeInstanceOf(SpoolFullError);
      expect((refusal as SinkFullError).retryAfterSeconds).toBe(5);

      await registerIngest(
        app,
        {
          sink: pipeline,
          token: "t0ken-for-ingest",
          bodyLimitBytes: 1024 * 1024,
          maxEventsPerRequest: 1000,
          maxEventBytes: 4096,
          metrics,
        },
        () => true,
      );
      const response = await app.inject({
        method: "POST",
        url: "/events",
        headers: { authorization: "Bearer t0ken-for-ingest" },
        payload: events(500, 1_000_000),
      });
      expect(response.statusCode).toBe(503);
      expect(response.headers["retry-after"]).toBe("5");
      expect(response.json()).toMatchObject({
        error: expect.stringContaining("the spool is full"),
        message: expect.stringContaining("events refused"),
        unprocessedFrom: 0,
      });
    } finally {
      await app.close();
      await pipeline.stop(0);
      await fake.close();
      spool.remove();
    }
  });
});

function events(count: number, from: number) {
  return Array.from({ length: count }, (_, i) => ({
    entity_id: "sensor.power",
    state: String(from + i),
    timestamp: new Date(Date.UTC(2026, 0, 1) + (from + i) * 1000).toISOString(),
  }));
}
