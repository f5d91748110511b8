/** HTTP ingest when storing fails: 503 with Retry-After, and nothing of the request counted as accepted. */
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../src/metrics";
import { registerIngest } from "../src/sources/ingest";
import { SpoolFullError } from "../src/spool";

describe("ingest at a full spool", () => {
  it("answers 503 with Retry-After and says nothing was accepted", async () => {
    const app = Fastify();
    const sink = {
      submit: async () =>
        Promise.reject(new SpoolFullError("the spool is full (1048000 of 1048576 bytes); 2 events refused")),
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
});
