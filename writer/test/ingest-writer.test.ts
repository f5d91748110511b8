/** The ingest contract through the whole writer: size limits at ingest, request logs, and what /status tells whom. */
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RunningWriter, startWriter } from "../src/app";
import { createLogger } from "../src/logger";
import type { ServiceStatus } from "../src/server";
import type { IngestResponse } from "../src/sources/ingest";
import { eventually } from "./helpers/eventually";
import { type FakeInflux, startFakeInflux } from "./helpers/fakeInflux";
import { tempDir, testConfig } from "./helpers/setup";

const INGEST_TOKEN = "ingest-token-for-contract-test";
const INFLUX_TOKEN = "test-token-123456";

describe("the writer's ingest contract", () => {
  let influx: FakeInflux;
  let spool: ReturnType<typeof tempDir>;
  let writer: RunningWriter | undefined;
  let logLines: string[];

  beforeEach(async () => {
    influx = await startFakeInflux();
    spool = tempDir();
  });
  afterEach(async () => {
    await writer?.stop(2_000);
    writer = undefined;
    await influx.close();
    spool.remove();
  });

  async function start(overrides: Record<string, unknown> = {}) {
    logLines = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logLines.push(
          ...chunk
            .toString("utf8")
            .split("\n")
            .filter((line) => line.length > 0),
        );
        callback();
      },
    });
    const config = testConfig(influx.url, spool.dir, {
      ingest: { host: "127.0.0.1", port: 0, token: INGEST_TOKEN },
      ...overrides,
    });
    // Secrets configured, as in production: the case where request logs used to lose their fields.
    const logger = createLogger({ level: "debug", format: "json", secrets: [INFLUX_TOKEN, INGEST_TOKEN], destination });
    writer = await startWriter(config, { logger });
    return writer;
  }

  const post = (url: string, body: unknown) =>
    fetch(`${url}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${INGEST_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("rejects an oversized tag at ingest with its reason instead of sending it to InfluxDB", async () => {
    const writer = await start({ limits: { maxTagValueBytes: 64 } });
    const response = await post(writer.url, [
      { entity_id: "light.a", state: "on", attributes: { friendly_name: "A" } },
      { entity_id: "light.b", state: "on", attributes: { friendly_name: "B".repeat(65) } },
    ]);
    expect(response.status).toBe(207);
    expect(((await response.json()) as IngestResponse).results![1]).toMatchObject({
      index: 1,
      status: "rejected",
      reason: "tag_too_long",
    });
    await writer.stop(2_000);
    const lines = influx.acceptedLines("home_assistant_events");
    expect(lines.some((line) => line.includes("entity_id=light.a"))).toBe(true);
    expect(lines.some((line) => line.includes("entity_id=light.b"))).toBe(false);
  });

  it("logs each request with method, path, status and time, query values and tokens redacted", async () => {
    const writer = await start();
    await fetch(`${writer.url}/status?token=${INGEST_TOKEN}&verbose`);
    await post(writer.url, [{ entity_id: "light.a", state: "on" }]);
    const requests = logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === "request completed");
    expect(requests).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          req: { method: "GET", url: "/status?token=[redacted]&verbose" },
          res: { statusCode: 200 },
          responseTime: expect.any(Number),
        }),
        expect.objectContaining({ req: { method: "POST", url: "/events" }, res: { statusCode: 200 } }),
      ]),
    );
    const text = logLines.join("\n");
    expect(text).not.toContain(INGEST_TOKEN);
    expect(text).not.toContain('"req":{}');
  });

  it("keeps InfluxDB's refusal text, which quotes events, out of /status unless asked with the ingest token", async () => {
    influx.answer = () => ({
      status: 500,
      body: {
        code: "internal error",
        message: 'cannot write home_assistant_events,entity_id=light.private_room state_value="on"',
      },
    });
    const writer = await start();
    await post(writer.url, [{ entity_id: "light.private_room", state: "on" }]);
    await eventually(() => writer.status().components.influxdb.lastError !== undefined);

    const anonymous = await (await fetch(`${writer.url}/status`)).text();
    expect(anonymous).not.toContain("private_room");
    expect((JSON.parse(anonymous) as ServiceStatus).components.influxdb.lastErrorAt).toBeDefined();

    const wrongToken = await (
      await fetch(`${writer.url}/status`, { headers: { authorization: "Bearer nope" } })
    ).text();
    expect(wrongToken).not.toContain("private_room");

    const withToken = (await (
      await fetch(`${writer.url}/status`, { headers: { authorization: `Bearer ${INGEST_TOKEN}` } })
    ).json()) as ServiceStatus;
    expect(withToken.components.influxdb.lastError).toContain("light.private_room");
  });
});
