/** The on-disk spool: recovery after a restart, torn writes, the byte bound that holds, true accounting, truncation and locking. */
import { appendFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Spool, SpoolFullError } from "../src/spool";
import { memoryLogger, tempDir } from "./helpers/setup";
import { lines, readAll } from "./helpers/spool";

describe("spool", () => {
  let dir: ReturnType<typeof tempDir>;
  const open = (maxBytes = 64 * 1024 * 1024, onDrop?: (events: number) => void) => {
    const { logger, lines: logLines } = memoryLogger();
    return Spool.open({ dir: dir.dir, maxBytes, logger, onDrop }).then((spool) => ({ spool, logLines }));
  };

  const onDiskBytes = () =>
    readdirSync(dir.dir)
      .filter((name) => name.startsWith("segment-"))
      .reduce((sum, name) => sum + statSync(join(dir.dir, name)).size, 0);

  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.remove());

  it("reads back what was appended, per bucket, in order", async () => {
    const { spool } = await open();
    await spool.append([
      { bucket: "a", lines: lines(0, 3), count: 3 },
      { bucket: "b", lines: lines(3, 1), count: 1 },
    ]);
    await spool.append([{ bucket: "a", lines: lines(4, 2), count: 2 }]);
    const entries = await readAll(spool);
    expect(entries.map((entry) => [entry.bucket, entry.count, entry.data.toString()])).toEqual([
      ["a", 3, lines(0, 3)],
      ["b", 1, lines(3, 1)],
      ["a", 2, lines(4, 2)],
    ]);
    expect(spool.stats()).toMatchObject({ events: 6 });
    await spool.close();
  });

  it("after a restart, hands out exactly the records not yet acknowledged", async () => {
    const first = await open();
    await first.spool.append([{ bucket: "a", lines: lines(0, 2), count: 2 }]);
    await first.spool.append([{ bucket: "a", lines: lines(2, 2), count: 2 }]);
    await first.spool.append([{ bucket: "a", lines: lines(4, 2), count: 2 }]);
    const entries = await readAll(first.spool);
    first.spool.ack(entries[0]!.end, entries[0]!.count);
    first.spool.ack(entries[1]!.end, entries[1]!.count);
    await first.spool.close();

    const second = await open();
    expect(second.spool.stats().events).toBe(2);
    const again = await readAll(second.spool);
    expect(again.map((entry) => entry.data.toString())).toEqual([lines(4, 2)]);
    await second.spool.close();
  });

  it("cuts a torn record off the end and keeps every whole one", async () => {
    const first = await open();
    await first.spool.append([{ bucket: "a", lines: lines(0, 2), count: 2 }]);
    await first.spool.close();
    const segment = readdirSync(dir.dir).find((name) => name.startsWith("segment-"))!;
    // A write interrupted half way: a header promising more bytes than follow.
    const torn = Buffer.alloc(20);
    torn.writeUInt32LE(500, 0);
    appendFileSync(join(dir.dir, segment), torn);

    const second = await open();
    expect((await readAll(second.spool)).map((entry) => entry.data.toString())).toEqual([lines(0, 2)]);
    expect(second.logLines.some((line) => line.includes("torn record"))).toBe(true);
    await second.spool.append([{ bucket: "a", lines: lines(2, 1), count: 1 }]);
    expect((await readAll(second.spool)).map((entry) => entry.data.toString())).toEqual([lines(2, 1)]);
    await second.spool.close();
  });

  it("never passes its byte bound: an append that does not fit is refused, counted by source, and nothing accepted is lost", async () => {
    const refused: [number, string][] = [];
    const { logger } = memoryLogger();
    const spool = await Spool.open({
      dir: dir.dir,
      maxBytes: 1024 * 1024,
      logger,
      onRefuse: (events, source) => refused.push([events, source]),
    });
    const record = lines(0, 1000); // ~16 kB per append
    let accepted = 0;
    let refusals = 0;
    for (let i = 0; i < 100; i++) {
      try {
        await spool.append([{ bucket: "a", lines: record, count: 1000 }], { source: "ingest" });
        accepted += 1000;
      } catch (error) {
        expect(error).toBeInstanceOf(SpoolFullError);
        expect((error as SpoolFullError).retryAfterSeconds).toBeGreaterThan(0);
        refusals++;
      }
      expect(onDiskBytes()).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(refusals).toBeGreaterThan(0);
    expect(refused).toEqual(Array.from({ length: refusals }, () => [1000, "ingest"]));
    expect(spool.stats()).toMatchObject({ events: accepted, droppedEvents: 0, refusedEvents: refusals * 1000 });
    // Every accepted event is still there to read.
    const entries = await readAll(spool);
    expect(entries.reduce((sum, entry) => sum + entry.count, 0)).toBe(accepted);
    await spool.close();
  });

  it("lets a waiting append in once delivered bytes are reclaimed, staying within the bound throughout", async () => {
    const { spool } = await open(1024 * 1024);
    const record = lines(0, 1000);
    for (;;) {
      try {
        await spool.append([{ bucket: "a", lines: record, count: 1000 }]);
      } catch {
        break;
      }
    }
    const before = spool.stats().events;
    let admitted = false;
    const waiting = spool
      .append([{ bucket: "a", lines: record, count: 1000 }], { source: "websocket", whenFull: "wait" })
      .then(() => (admitted = true));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(admitted).toBe(false);
    // Delivery acknowledges everything: the spool reclaims the delivered segments (the current one too).
    for (const entry of await readAll(spool)) spool.ack(entry.end, entry.count);
    await waiting;
    expect(onDiskBytes()).toBeLessThanOrEqual(1024 * 1024);
    // The one refusal is the append that found it full.
    expect(spool.stats()).toMatchObject({ events: 1000, refusedEvents: 1000 });
    expect(before).toBeGreaterThan(1000);
    await spool.close();
  });

  it("counts events read ahead into memory as pending, and reports only bytes not yet delivered", async () => {
    const { spool } = await open();
    await spool.append([{ bucket: "a", lines: lines(0, 10), count: 10 }]);
    await spool.append([{ bucket: "a", lines: lines(10, 10), count: 10 }]);
    const written = spool.stats().bytes;
    const entries = await readAll(spool);
    expect(spool.stats()).toMatchObject({ events: 20, bytes: written });
    spool.ack(entries[0]!.end, entries[0]!.count);
    // The delivered record is still in the open segment file, but no longer counts as spooled.
    expect(spool.stats()).toMatchObject({ events: 10, bytes: written - entries[0]!.end.offset, diskBytes: written });
    spool.ack(entries[1]!.end, entries[1]!.count);
    expect(spool.stats()).toMatchObject({ events: 0, bytes: 0 });
    await spool.close();
  });

  it("refuses a record larger than the whole bound, even to a source that would wait", async () => {
    const { spool } = await open(1024 * 1024);
    const huge = `m s="${"x".repeat(1024 * 1024)}" 1\n`;
    await expect(spool.append([{ bucket: "a", lines: huge, count: 1 }], { whenFull: "wait" })).rejects.toBeInstanceOf(
      SpoolFullError,
    );
    await spool.close();
  });

  it("deletes segments once everything in them is acknowledged", async () => {
    const { spool } = await open(2 * 1024 * 1024);
    for (let i = 0; i < 100; i++) await spool.append([{ bucket: "a", lines: lines(0, 1000), count: 1000 }]);
    const before = readdirSync(dir.dir).filter((name) => name.startsWith("segment-")).length;
    expect(before).toBeGreaterThan(1);
    const entries = await readAll(spool);
    for (const entry of entries) spool.ack(entry.end, entry.count);
    await spool.close();
    const after = readdirSync(dir.dir).filter((name) => name.startsWith("segment-")).length;
    expect(after).toBe(1);
    expect(spool.stats()).toMatchObject({ events: 0 });
  });

  it("makes callers wait while more than 16 MB of appends are queued for the disk", async () => {
    const { spool } = await open(256 * 1024 * 1024);
    const big = `m s="${"x".repeat(1024 * 1024)}" 1\n`;
    const appends = Array.from({ length: 20 }, () => spool.append([{ bucket: "a", lines: big, count: 1 }]));
    let roomGiven = false;
    const room = spool.waitForRoom().then(() => (roomGiven = true));
    await Promise.resolve();
    expect(roomGiven).toBe(false);
    await Promise.all(appends);
    await room;
    expect(roomGiven).toBe(true);
    await spool.close();
  });

  it("refuses a second writer on the same directory", async () => {
    const { spool } = await open();
    await expect(open()).rejects.toThrow(/in use by process/);
    await spool.close();
  });
});
