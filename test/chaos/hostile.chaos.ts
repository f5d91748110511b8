/**
 * Hostile ingest bodies against the built writer and a real influxd, interleaved with a steady stream
 * of normal events: each body gets its documented answer (writer/README.md, HTTP ingest), `/healthz`
 * keeps answering meanwhile (the slowest answer is printed), peak RSS stays under 2 × idle RSS + the
 * largest body, every normal event acknowledged is stored (accepted = stored, 0 lost, 0 reported
 * dropped), and nothing of the hostile bodies reaches InfluxDB or the dead-letter file.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  buildWriter,
  ChaosInfluxd,
  ChaosWriter,
  chaosInfluxd,
  IngestClient,
  report,
  rssMb,
  sleep,
  untilStored,
} from "./rig";

const binary = chaosInfluxd();
const MB = 1024 * 1024;

interface Hostile {
  name: string;
  contentType: string;
  body: Buffer;
  /** Asserts the writer's answer (status and parsed JSON). */
  expectAnswer(status: number, answer: Record<string, unknown>): void;
}

const tooMany = (status: number, answer: Record<string, unknown>) => {
  expect(status).toBe(413);
  expect(answer).toMatchObject({ reason: "too_many_events", limit: 10_000 });
};

/** One NDJSON line that is hostile in one way; its expected rejection reason. */
const badLines: { line: Buffer; reason: string }[] = [
  {
    line: Buffer.from(
      JSON.stringify({
        entity_id: "sensor.hostile_big_tag",
        state: "1",
        attributes: { friendly_name: "t".repeat(MB) },
      }),
    ),
    reason: "event_too_large",
  },
  {
    line: Buffer.from(
      JSON.stringify({
        entity_id: "sensor.hostile_tag",
        state: "1",
        attributes: { friendly_name: "t".repeat(100_000) },
      }),
    ),
    reason: "tag_too_long",
  },
  {
    line: Buffer.from(JSON.stringify({ entity_id: `sensor.${"e".repeat(100_000)}`, state: "1" })),
    reason: "invalid_entity_id",
  },
  {
    line: Buffer.concat([
      Buffer.from('{"entity_id":"sensor.hostile_utf8","state":"'),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from('"}'),
    ]),
    reason: "invalid_utf8",
  },
];

const HOSTILE: Hostile[] = [
  {
    name: "ndjson-5M-lines",
    contentType: "application/x-ndjson",
    body: Buffer.from("0\n".repeat(5_000_000)),
    expectAnswer: tooMany,
  },
  {
    name: "json-array-5M-zeros",
    contentType: "application/json",
    body: Buffer.from(`[${"0,".repeat(4_999_999)}0]`),
    expectAnswer: tooMany,
  },
  {
    name: "events-1MB-tag-100KB-tag-100KB-entity-id-invalid-utf8",
    contentType: "application/x-ndjson",
    body: Buffer.concat(badLines.flatMap(({ line }, i) => (i === 0 ? [line] : [Buffer.from("\n"), line]))),
    expectAnswer: (status, answer) => {
      expect(status).toBe(207);
      expect(answer).toMatchObject({ accepted: 0, rejected: badLines.length, filtered: 0 });
      const results = answer.results as { index: number; status: string; reason: string }[];
      expect(results.map((r) => [r.index, r.status, r.reason])).toEqual(
        badLines.map(({ reason }, index) => [index, "rejected", reason]),
      );
    },
  },
  {
    name: "json-invalid-utf8",
    contentType: "application/json",
    body: Buffer.concat([
      Buffer.from('[{"entity_id":"sensor.hostile_json_utf8","state":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}]'),
    ]),
    expectAnswer: (status, answer) => {
      expect(status).toBe(400);
      expect(answer).toMatchObject({ reason: "invalid_utf8" });
    },
  },
  {
    name: "text-plain",
    contentType: "text/plain",
    body: Buffer.from('{"entity_id":"sensor.hostile_text","state":"1"}'),
    expectAnswer: (status, answer) => {
      expect(status).toBe(415);
      expect(answer).toMatchObject({ reason: "unsupported_media_type" });
    },
  },
  {
    name: "json-charset-utf16",
    contentType: "application/json; charset=utf-16",
    body: Buffer.from('{"entity_id":"sensor.hostile_utf16","state":"1"}', "utf16le"),
    expectAnswer: (status, answer) => {
      expect(status).toBe(415);
      expect(answer).toMatchObject({ reason: "unsupported_media_type" });
    },
  },
];

describe.skipIf(binary === undefined)("hostile ingest bodies, against a real influxd", () => {
  let influxd: ChaosInfluxd | undefined;
  let writer: ChaosWriter | undefined;

  beforeAll(() => buildWriter(), 120_000);
  afterEach(async () => {
    writer?.remove();
    writer = undefined;
    await influxd?.remove();
  });

  it("answers each as documented, keeps /healthz answering, bounded memory, normal events all stored", async () => {
    const started = Date.now();
    influxd = new ChaosInfluxd(binary!);
    await influxd.start();
    const running = new ChaosWriter(influxd);
    writer = running;
    const client = new IngestClient(running);
    await running.start();
    // Settle, then warm the paths a normal event takes so idle RSS includes them.
    await client.post(100);
    await sleep(2000);
    const idleRssMb = rssMb(running.child!.pid!);

    let stop = false;
    let healthzSlowestMs = 0;
    let healthzAnswers = 0;
    const probing = (async () => {
      while (!stop) {
        const asked = Date.now();
        const response = await fetch(`${running.url}/healthz`, { signal: AbortSignal.timeout(10_000) });
        await response.body?.cancel();
        expect(response.status).toBe(200);
        healthzSlowestMs = Math.max(healthzSlowestMs, Date.now() - asked);
        healthzAnswers++;
        running.sample();
        await sleep(20);
      }
    })();
    const streaming = (async () => {
      while (!stop) {
        await client.post(50);
        await sleep(20);
      }
    })();

    const answers: string[] = [];
    try {
      for (const hostile of HOSTILE) {
        const response = await fetch(`${running.url}/events`, {
          method: "POST",
          headers: { authorization: `Bearer ${running.ingestToken}`, "content-type": hostile.contentType },
          body: new Uint8Array(hostile.body),
          signal: AbortSignal.timeout(30_000),
        });
        const answer = (await response.json()) as Record<string, unknown>;
        hostile.expectAnswer(response.status, answer);
        const reasons =
          answer.reason ?? (answer.results as { reason?: string }[] | undefined)?.map((r) => r.reason).join("+");
        answers.push(`${hostile.name}:${response.status}/${reasons}`);
        running.sample();
      }
      await sleep(500);
    } finally {
      // Also on a failed assertion: no probe or post may outlive the writer.
      stop = true;
      await Promise.all([probing, streaming]);
    }

    const { stored } = await untilStored(influxd, client, 30_000);
    const lost = client.missingFrom(stored);
    const reportedDropped = await running.metric("writer_spool_dropped_events_total");
    const hostileStored = await influxd.countPoints(false);
    // The control: the same query counts the normal events' values, so a 0 above is a real 0.
    expect(await influxd.countPoints(true)).toBeGreaterThanOrEqual(client.acknowledged.size);
    const deadLetterPath = join(running.spoolDir, "dead-letter.ndjson");
    const deadLetterBytes = existsSync(deadLetterPath) ? statSync(deadLetterPath).size : 0;
    running.sample();
    const largestBodyMb = Math.max(...HOSTILE.map((h) => h.body.length)) / MB;
    const boundMb = 2 * idleRssMb + largestBodyMb;
    report("hostile-bodies", {
      sent: client.sent,
      accepted: client.acknowledged.size,
      stored: [...client.acknowledged].filter((seq) => stored.has(seq)).length,
      lost,
      reportedDropped,
      hostileBodies: HOSTILE.length,
      hostileStored,
      deadLetterBytes,
      idleRssMb,
      peakRssMb: running.peakRssMb,
      boundMb,
      healthzSlowestMs,
      healthzAnswers,
      durationMs: Date.now() - started,
    });
    console.log(`CHAOS hostile-bodies answers: ${answers.join(" ")}`);
    expect(client.refused + client.failed).toBe(0);
    expect(lost).toBe(0);
    expect(reportedDropped).toBe(0);
    expect(hostileStored).toBe(0);
    expect(deadLetterBytes === 0 ? "" : readFileSync(deadLetterPath, "utf8").slice(0, 500)).toBe("");
    expect(running.peakRssMb).toBeLessThan(boundMb);
  }, 90_000);
});
