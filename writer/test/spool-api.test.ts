/**
 * The spool's contract as its callers see it: what an append writes, refuses or waits for, in which
 * order waiting appends get in, how segments rotate, what acknowledgement, close and recovery leave
 * behind, and what faults and figures say.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SpoolFs, SpoolFullError } from "../src/spool";
import { nodeFs } from "../src/spool/fs";
import { encodeRecord } from "../src/spool/record";
import { eventually } from "./helpers/eventually";
import { tempDir } from "./helpers/setup";
import { delivered, fsError, lines, readAll, SpoolWatch, wrapFiles } from "./helpers/spool";

/** One record of about `bytes` bytes holding one event. */
const sized = (bytes: number, tag = "x") => ({ bucket: "a", lines: `m s="${tag.repeat(bytes)}" 1\n`, count: 1 });

describe("spool contract", () => {
  let dir: ReturnType<typeof tempDir>;
  let watch: SpoolWatch;
  const segmentFiles = () => readdirSync(dir.dir).filter((name) => name.startsWith("segment-"));
  const logged = (text: string) =>
    watch.logLines.map((line) => JSON.parse(line)).filter((line) => line.msg.includes(text));

  beforeEach(() => {
    dir = tempDir();
    watch = new SpoolWatch(() => dir.dir);
  });
  afterEach(() => dir.remove());

  it("an append of nothing, or of records without events, writes nothing", async () => {
    const spool = await watch.open();
    await spool.append([]);
    await spool.append([{ bucket: "a", lines: "", count: 0 }]);
    expect(spool.stats()).toEqual({ bytes: 0, diskBytes: 0, events: 0, droppedEvents: 0, refusedEvents: 0 });
    await spool.append([
      { bucket: "a", lines: "", count: 0 },
      { bucket: "b", lines: lines(0, 2), count: 2 },
    ]);
    const entries = await readAll(spool);
    expect(entries.map((entry) => [entry.bucket, entry.count])).toEqual([["b", 2]]);
    expect(spool.stats().diskBytes).toBe(encodeRecord({ bucket: "b", lines: lines(0, 2), count: 2 }).length);
    await spool.close();
  });

  it("rotates to a new segment when a write would take the current one past an eighth of the bound", async () => {
    // 4 MiB bound: segments of 512 KiB. Two writes of 200 KiB fit in one; the third starts a second.
    const spool = await watch.open({ maxBytes: 4 * 1024 * 1024 });
    await spool.append([sized(200 * 1024)]);
    await spool.append([sized(200 * 1024)]);
    expect(segmentFiles()).toHaveLength(1);
    await spool.append([sized(200 * 1024)]);
    expect(segmentFiles()).toHaveLength(2);
    expect(delivered(await readAll(spool))).toHaveLength(3);
    await spool.close();
  });

  it("keeps segments at 256 KiB at least, however small the bound", async () => {
    // 1 MiB bound: an eighth would be 128 KiB; segments are 256 KiB.
    const spool = await watch.open({ maxBytes: 1024 * 1024 });
    await spool.append([sized(100 * 1024)]);
    await spool.append([sized(100 * 1024)]);
    expect(segmentFiles()).toHaveLength(1);
    await spool.append([sized(100 * 1024)]);
    expect(segmentFiles()).toHaveLength(2);
    await spool.close();
  });

  it("a refusal says how full the spool is, counts the events by source, and tells when to try again", async () => {
    const spool = await watch.open({ maxBytes: 300 * 1024 });
    await spool.append([sized(200 * 1024)]);
    const disk = spool.stats().diskBytes;
    const refusal = spool.append([sized(150 * 1024), sized(10)]);
    await expect(refusal).rejects.toBeInstanceOf(SpoolFullError);
    const error = (await refusal.catch((caught: unknown) => caught)) as SpoolFullError;
    expect(error.message).toBe(
      `the spool is full (${disk} of ${300 * 1024} bytes, 1 events waiting for InfluxDB); 2 events refused`,
    );
    expect(error.code).toBe("SPOOL_FULL");
    expect(error.retryAfterSeconds).toBe(5);
    await expect(spool.append([sized(150 * 1024)], { source: "ingest" })).rejects.toBeInstanceOf(SpoolFullError);
    expect(watch.refusals).toEqual([
      [2, "unknown"],
      [1, "ingest"],
    ]);
    expect(spool.stats()).toMatchObject({ events: 1, refusedEvents: 3 });
    await spool.close();
  });

  it("an append waiting for room goes before later ones, which are refused even when they would fit", async () => {
    const spool = await watch.open({ maxBytes: 300 * 1024 });
    await spool.append([sized(200 * 1024, "a")]);
    let admitted = false;
    const waiting = spool.append([sized(150 * 1024, "b")], { whenFull: "wait" }).then(() => (admitted = true));
    await expect(spool.append([sized(10, "c")])).rejects.toBeInstanceOf(SpoolFullError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(admitted).toBe(false);
    const first = await readAll(spool);
    spool.ack(first[0]!.end, 1);
    await waiting;
    expect(delivered(await readAll(spool))).toEqual([sized(150 * 1024, "b").lines]);
    await spool.close();
  });

  it("close refuses appends still waiting for room, and any append after it", async () => {
    const spool = await watch.open({ maxBytes: 300 * 1024 });
    await spool.append([sized(200 * 1024)]);
    const waiting = spool.append([sized(150 * 1024)], { whenFull: "wait" }).catch((error: unknown) => error);
    await spool.close();
    expect(await waiting).toEqual(new Error("spool is closed"));
    await expect(spool.append([sized(10)])).rejects.toThrow("spool is closed");
    await spool.close();
  });

  it("close ends a read waiting for data with nothing, and later reads return nothing", async () => {
    const spool = await watch.open();
    const waiting = spool.read(1024);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await spool.close();
    expect(await waiting).toEqual([]);
    expect(await spool.read(1024)).toEqual([]);
    expect(existsSync(join(dir.dir, "lock"))).toBe(false);
  });

  it("a read waiting for data wakes for the next append; an aborted signal ends it with nothing", async () => {
    const spool = await watch.open();
    const waiting = spool.read(1024);
    await spool.append([{ bucket: "a", lines: lines(0, 1), count: 1 }]);
    expect(delivered(await waiting)).toEqual([lines(0, 1)]);
    const aborted = new AbortController();
    aborted.abort();
    await spool.append([{ bucket: "a", lines: lines(1, 1), count: 1 }]);
    expect(await spool.read(1024, aborted.signal)).toEqual([]);
    await spool.close();
  });

  it("hands out records up to about the bytes asked for, at least one", async () => {
    const spool = await watch.open();
    for (let i = 0; i < 5; i++) await spool.append([{ bucket: "a", lines: lines(i * 10, 10), count: 10 }]);
    // The last four records are of one size.
    const size = encodeRecord({ bucket: "a", lines: lines(10, 10), count: 10 }).length;
    expect(await spool.read(1)).toHaveLength(1);
    expect(await spool.read(size)).toHaveLength(1);
    expect(await spool.read(size + 1)).toHaveLength(2);
    expect(await spool.read(size * 10)).toHaveLength(1);
    await spool.close();
  });

  it("after a restart hands out from the disk as many records as the bytes asked for", async () => {
    const { ends } = await watch.written([5, 5, 5, 5, 5, 5]);
    const size = (index: number) => ends[index]! - (ends[index - 1] ?? 0);
    const spool = await watch.open();
    expect(await spool.read(size(0))).toHaveLength(1);
    expect(await spool.read(size(1) + size(2) + size(3))).toHaveLength(3);
    expect(await spool.read(size(4) + 1)).toHaveLength(2);
    await spool.close();
  });

  it("reads back from the disk after a restart, record by record, whatever the read size", async () => {
    const first = await watch.open();
    for (let i = 0; i < 5; i++) await first.append([{ bucket: `b${i}`, lines: lines(i * 3, 3), count: 3 }]);
    await first.close();
    const spool = await watch.open();
    const entries = await readAll(spool, 1);
    expect(entries.map((entry) => entry.bucket)).toEqual(["b0", "b1", "b2", "b3", "b4"]);
    expect(delivered(entries)).toEqual([0, 1, 2, 3, 4].map((i) => lines(i * 3, 3)));
    expect(logged("recovered events not yet delivered")[0]).toMatchObject({ events: 15, segments: 1 });
    // A clean restart cuts nothing off.
    expect(logged("torn record")).toEqual([]);
    await spool.close();
  });

  it("reads more than its in-memory window of recent writes back from the disk, in order", async () => {
    // 40 MiB bound: 5 MiB segments. 14 MiB of writes in four segments: more than the 8 MiB kept in
    // memory for a reader that keeps up, so the oldest kept write is in the second segment.
    const spool = await watch.open({ maxBytes: 40 * 1024 * 1024 });
    for (let i = 0; i < 14; i++) await spool.append([sized(1024 * 1024, String.fromCharCode(97 + i))]);
    expect(segmentFiles()).toHaveLength(4);
    const entries = await readAll(spool, 3 * 1024 * 1024);
    expect(entries.map((entry) => entry.data.toString("utf8", 5, 6))).toEqual(
      Array.from({ length: 14 }, (_, i) => String.fromCharCode(97 + i)),
    );
    expect(
      entries.every((entry, i) =>
        entry.data.equals(Buffer.from(sized(1024 * 1024, String.fromCharCode(97 + i)).lines)),
      ),
    ).toBe(true);
    await spool.close();
  });

  it("an acknowledgement at or behind the cursor changes nothing; the cursor is saved soon after an ack", async () => {
    const spool = await watch.open();
    await spool.append([{ bucket: "a", lines: lines(0, 2), count: 2 }]);
    await spool.append([{ bucket: "a", lines: lines(2, 3), count: 3 }]);
    const entries = await readAll(spool);
    spool.ack(entries[1]!.end, 3);
    spool.ack(entries[1]!.end, 3);
    spool.ack(entries[0]!.end, 2);
    expect(spool.stats()).toMatchObject({ events: 2, bytes: 0 });
    await eventually(() =>
      expect(JSON.parse(readFileSync(join(dir.dir, "cursor.json"), "utf8"))).toEqual(entries[1]!.end),
    );
    await spool.close();
  });

  it("never counts more events acknowledged than a segment holds", async () => {
    const spool = await watch.open();
    await spool.append([{ bucket: "a", lines: lines(0, 2), count: 2 }]);
    const entries = await readAll(spool);
    spool.ack(entries[0]!.end, 50);
    expect(spool.stats().events).toBe(0);
    await spool.close();
  });

  it("a cursor that could not be saved is saved on the next acknowledgement, with a warning", async () => {
    let failRename = true;
    const fs: SpoolFs = {
      ...nodeFs,
      rename: (from, to) => (failRename ? Promise.reject(fsError("EIO: rename")) : nodeFs.rename(from, to)),
    };
    const spool = await watch.open({ fs });
    await spool.append([{ bucket: "a", lines: lines(0, 2), count: 2 }]);
    await spool.append([{ bucket: "a", lines: lines(2, 2), count: 2 }]);
    const entries = await readAll(spool);
    spool.ack(entries[0]!.end, 2);
    await eventually(() => expect(logged("could not save the delivery cursor")).toHaveLength(1));
    expect(existsSync(join(dir.dir, "cursor.json"))).toBe(false);
    failRename = false;
    spool.ack(entries[1]!.end, 2);
    await eventually(() =>
      expect(JSON.parse(readFileSync(join(dir.dir, "cursor.json"), "utf8"))).toEqual(entries[1]!.end),
    );
    expect(watch.faults).toEqual([]);
    await spool.close();
  });

  it("on open deletes the segments behind the cursor and ignores files that are not segments", async () => {
    const first = await watch.open({ maxBytes: 1024 * 1024 });
    for (let i = 0; i < 3; i++) await first.append([sized(200 * 1024, String(i))]);
    await first.close();
    const files = segmentFiles().sort();
    expect(files).toHaveLength(3);
    const third = Number(/(\d+)/.exec(files[2]!)![1]);
    writeFileSync(join(dir.dir, "cursor.json"), JSON.stringify({ segment: third, offset: 0 }));
    writeFileSync(join(dir.dir, "segment-1.log"), "not a segment");
    writeFileSync(join(dir.dir, `${files[0]}.bak`), "not a segment either");
    writeFileSync(join(dir.dir, `old-${files[2]}`), readFileSync(join(dir.dir, files[2]!)));
    const spool = await watch.open({ maxBytes: 1024 * 1024 });
    expect(segmentFiles().sort()).toEqual([files[2], "segment-1.log", `${files[0]}.bak`].sort());
    expect(delivered(await readAll(spool))).toEqual([sized(200 * 1024, "2").lines]);
    expect(spool.stats().events).toBe(1);
    expect(watch.faults).toEqual([]);
    await spool.close();
  });

  it("a cursor past the end of its segment is moved to the end: nothing pending, no fault", async () => {
    const { segment } = await watch.written([2]);
    writeFileSync(join(dir.dir, "cursor.json"), JSON.stringify({ segment, offset: 1_000_000 }));
    const spool = await watch.open();
    expect(spool.stats()).toMatchObject({ bytes: 0, events: 0 });
    expect(watch.faults).toEqual([]);
    await spool.append([{ bucket: "a", lines: lines(2, 1), count: 1 }]);
    expect(delivered(await readAll(spool))).toEqual([lines(2, 1)]);
    await spool.close();
  });

  it("a cursor past every segment file starts a new segment after it", async () => {
    writeFileSync(join(dir.dir, "cursor.json"), JSON.stringify({ segment: 5, offset: 40 }));
    const spool = await watch.open();
    expect(segmentFiles()).toEqual(["segment-000000000006.log"]);
    await spool.append([{ bucket: "a", lines: lines(0, 1), count: 1 }]);
    expect(delivered(await readAll(spool))).toEqual([lines(0, 1)]);
    await spool.close();
  });

  it("a cursor before the oldest segment file starts at that file's beginning", async () => {
    const { path } = await watch.written([2]);
    writeFileSync(join(dir.dir, "cursor.json"), JSON.stringify({ segment: 0, offset: 0 }));
    const name = basename(path);
    writeFileSync(join(dir.dir, "segment-000000000003.log"), readFileSync(join(dir.dir, name)));
    if (name !== "segment-000000000003.log") writeFileSync(join(dir.dir, name), "");
    const spool = await watch.open();
    expect(delivered(await readAll(spool))).toEqual([lines(0, 2)]);
    expect(spool.stats()).toMatchObject({ events: 2 });
    await spool.close();
  });

  it("keeps the last 20 faults, newest last, reports each one, and drops only events it knows", async () => {
    const first = await watch.open();
    for (let i = 0; i < 25; i++) {
      await first.append([{ bucket: "a", lines: lines(i * 2, 2), count: 2 }]);
      await first.append([{ bucket: "a", lines: lines(100 + i, 1), count: 1 }]);
    }
    await first.close();
    // Damage each record of two events: 25 holes of known size.
    const path = join(dir.dir, segmentFiles()[0]!);
    const bytes = readFileSync(path);
    let at = 0;
    for (let i = 0; i < 25; i++) {
      bytes[at + 20]! ^= 0x01;
      at += encodeRecord({ bucket: "a", lines: lines(i * 2, 2), count: 2 }).length;
      at += encodeRecord({ bucket: "a", lines: lines(100 + i, 1), count: 1 }).length;
    }
    writeFileSync(path, bytes);
    const spool = await watch.open();
    expect(watch.faults).toHaveLength(25);
    expect(watch.drops).toEqual(Array.from({ length: 25 }, () => 2));
    const health = spool.health();
    expect(health.healthy).toBe(true);
    expect(health.message).toBe("20 spool faults since start (see faults)");
    expect(health.faults).toEqual(watch.faults.slice(5));
    expect(health.faults[0]!.message).toBe(watch.faults[5]!.message);
    const errors = logged("SPOOL FAULT");
    expect(errors).toHaveLength(25);
    const firstEnd = encodeRecord({ bucket: "a", lines: lines(0, 2), count: 2 }).length;
    expect(errors[0]).toMatchObject({
      level: 50,
      spoolDir: dir.dir,
      fault: "corrupt",
      segment: Number(/(\d+)/.exec(segmentFiles()[0]!)![1]),
      fromByte: 0,
      toByte: firstEnd,
      lostEvents: 2,
    });
    expect(delivered(await readAll(spool))).toHaveLength(25);
    await spool.close();
  });

  it("a healthy spool without faults says so", async () => {
    const spool = await watch.open();
    expect(spool.health()).toEqual({ healthy: true, message: "spool works", faults: [] });
    // A first start recovers nothing and says nothing about it.
    expect(logged("recovered")).toEqual([]);
    await spool.close();
  });

  it("a hole of unknown size drops nothing it cannot count", async () => {
    const { path } = await watch.written([2, 2]);
    const bytes = readFileSync(path);
    writeFileSync(path, Buffer.concat([bytes.subarray(0, 10), bytes.subarray(30)]));
    const spool = await watch.open();
    expect(watch.faults.map((fault) => fault.kind)).toEqual(["corrupt"]);
    expect(watch.drops).toEqual([]);
    expect(spool.stats().droppedEvents).toBe(0);
    expect(logged("SPOOL FAULT")[0]).toMatchObject({ fromByte: 0, toByte: 11, lostEvents: "unknown" });
    expect(watch.faults[0]!.message).toContain("an unknown number of events lost");
    await spool.close();
  });

  it("a failing fsync is one fault and one error line; later failures are passed on without repeating them", async () => {
    const fs = wrapFiles(() => ({ datasync: () => Promise.reject(fsError("EIO: fsync failed")) }));
    // 1 MiB bound: 256 KiB segments; each rotation fsyncs the segment it leaves.
    const spool = await watch.open({ fs, maxBytes: 1024 * 1024 });
    for (let i = 0; i < 3; i++) await spool.append([sized(200 * 1024)]);
    expect(watch.faults.map((fault) => fault.kind)).toEqual(["fsync", "fsync"]);
    expect(watch.faults[1]!.message).toBe("EIO: fsync failed");
    expect(spool.health().faults).toHaveLength(1);
    expect(logged("fsync of the spool failed")).toHaveLength(1);
    expect(spool.health().healthy).toBe(false);
    await spool.close();
  });

  /** A file system that counts what the spool does with its files. */
  function counting() {
    const calls = { reads: 0, readCloses: 0, syncs: 0 };
    const fs = wrapFiles((file, _path, flags) => {
      if (flags === "r") calls.reads++;
      return {
        datasync: () => {
          calls.syncs++;
          return file.datasync();
        },
        close: () => {
          if (flags === "r") calls.readCloses++;
          return file.close();
        },
      };
    });
    return { fs, calls };
  }

  it("after a restart reads each segment through one open file, closing the one it leaves", async () => {
    const first = await watch.open({ maxBytes: 1024 * 1024 });
    // Two records in each of three 256 KiB segments.
    const tags = ["0", "1", "2", "3", "4", "5"];
    for (const tag of tags) await first.append([sized(100 * 1024, tag)]);
    await first.close();
    expect(segmentFiles()).toHaveLength(3);
    const { fs, calls } = counting();
    const spool = await watch.open({ fs, maxBytes: 1024 * 1024 });
    expect(delivered(await readAll(spool, 1))).toEqual(tags.map((tag) => sized(100 * 1024, tag).lines));
    expect(calls.reads).toBe(3);
    expect(calls.readCloses).toBe(2);
    await spool.close();
    expect(calls.readCloses).toBe(3);
  });

  it("after a restart hands out whole records larger than a read, next to small ones", async () => {
    const records = [sized(100 * 1024, "a"), sized(10, "b"), sized(300 * 1024, "c"), sized(70 * 1024, "d")];
    const first = await watch.open();
    for (const record of records) await first.append([record]);
    await first.close();
    const spool = await watch.open();
    expect(delivered(await readAll(spool, 1))).toEqual(records.map((record) => record.lines));
    await spool.close();
    const again = await watch.open();
    expect(delivered(await readAll(again, 1024 * 1024))).toEqual(records.map((record) => record.lines));
    await again.close();
  });

  it("a segment deleted by hand under the reader is waited past, not fatal; new appends are read", async () => {
    const { path } = await watch.written([2]);
    const spool = await watch.open();
    rmSync(path);
    expect(await readAll(spool)).toEqual([]);
    await spool.close();
  });

  it("a read error other than a missing file reaches the reader", async () => {
    await watch.written([2]);
    const fs: SpoolFs = {
      ...nodeFs,
      open: (path, flags) => (flags === "r" ? Promise.reject(fsError("EIO: read")) : nodeFs.open(path, flags)),
    };
    const spool = await watch.open({ fs });
    await expect(spool.read(1024)).rejects.toThrow("EIO: read");
    await spool.close();
  });

  it("fsyncs only what was written: nothing on a clean close, the old segment on rotation and the current one on close", async () => {
    const clean = counting();
    const idle = await watch.open({ fs: clean.fs, maxBytes: 1024 * 1024 });
    await idle.close();
    expect(clean.calls.syncs).toBe(0);
    dir.remove();
    dir = tempDir();
    const { fs, calls } = counting();
    const spool = await watch.open({ fs, maxBytes: 1024 * 1024 });
    await spool.append([sized(200 * 1024)]);
    expect(calls.syncs).toBe(0);
    await spool.append([sized(200 * 1024)]);
    expect(calls.syncs).toBe(1);
    await spool.close();
    expect(calls.syncs).toBe(2);
  });

  it("a damaged last record: the records before it are delivered, its events reported lost, the file cut", async () => {
    const { path, segment, ends } = await watch.written([2, 4]);
    const bytes = readFileSync(path);
    const firstEnd = ends[0]!;
    bytes[firstEnd + 20]! ^= 0x01;
    writeFileSync(path, bytes);
    const spool = await watch.open();
    expect(delivered(await readAll(spool))).toEqual([lines(0, 2)]);
    expect(watch.drops).toEqual([4]);
    expect(watch.faults.map((fault) => [fault.kind, fault.message])).toEqual([
      ["corrupt", `the last record of segment ${segment} is damaged: 4 events lost`],
    ]);
    expect(logged("SPOOL FAULT")[0]).toMatchObject({ fromByte: firstEnd, lostEvents: 4 });
    expect(readFileSync(path).length).toBe(firstEnd);
    expect(spool.stats()).toMatchObject({ events: 2, droppedEvents: 4 });
    await spool.close();
  });

  it("a torn tail is cut with a warning naming what was kept", async () => {
    const { path, ends } = await watch.written([2]);
    const whole = ends[0]!;
    // Zeros after the last record, as a crash can leave them.
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.alloc(30)]));
    const spool = await watch.open();
    expect(logged("torn record")[0]).toMatchObject({ level: 40, validBytes: whole, fileBytes: whole + 30 });
    expect(watch.faults).toEqual([]);
    expect(readFileSync(path).length).toBe(whole);
    await spool.close();
  });

  it("a record whose length is damaged after recovery: the rest of the segment is skipped, later appends are delivered", async () => {
    const { path, segment, ends } = await watch.written([2, 3]);
    const spool = await watch.open();
    expect(delivered(await spool.read(1))).toEqual([lines(0, 2)]);
    const bytes = readFileSync(path);
    const firstEnd = ends[0]!;
    // The second record now claims to run 1000 bytes past the end of the file.
    bytes.writeUInt32LE(bytes.readUInt32LE(firstEnd) + 1000, firstEnd);
    writeFileSync(path, bytes);
    expect(await readAll(spool)).toEqual([]);
    expect(watch.drops).toEqual([3]);
    expect(watch.faults.map((fault) => fault.message)).toEqual([
      `a record of segment ${segment} at byte ${firstEnd} is damaged; skipped the rest of the segment (${bytes.length - firstEnd} bytes, 3 events lost)`,
    ]);
    await spool.append([{ bucket: "a", lines: lines(5, 1), count: 1 }]);
    expect(delivered(await readAll(spool))).toEqual([lines(5, 1)]);
    expect(spool.stats()).toMatchObject({ events: 3, droppedEvents: 3 });
    await spool.close();
  });

  it("a record damaged on disk far into a large segment: skipped with the rest, at its own offset", async () => {
    // Records of 40 KiB: more than one read of 64 KiB holds.
    const records = ["a", "b", "c", "d"].map((tag) => sized(40 * 1024, tag));
    const first = await watch.open();
    for (const record of records) await first.append([record]);
    await first.close();
    const path = join(dir.dir, segmentFiles()[0]!);
    const spool = await watch.open();
    expect(delivered(await spool.read(1))).toEqual([records[0]!.lines]);
    const size = encodeRecord(records[0]!).length;
    const bytes = readFileSync(path);
    bytes[2 * size + 100]! ^= 0x01;
    writeFileSync(path, bytes);
    expect(delivered(await readAll(spool, 1))).toEqual([records[1]!.lines]);
    expect(watch.drops).toEqual([2]);
    expect(watch.faults[0]!.message).toContain(`at byte ${2 * size} is damaged`);
    await spool.close();
  });

  it("recovers segments in number order whatever order the directory lists them in", async () => {
    const first = await watch.open({ maxBytes: 1024 * 1024 });
    const tags = ["0", "1", "2", "3", "4", "5"];
    for (const tag of tags) await first.append([sized(100 * 1024, tag)]);
    await first.close();
    const fs: SpoolFs = { ...nodeFs, readdir: async (path) => (await nodeFs.readdir(path)).sort().reverse() };
    const spool = await watch.open({ fs, maxBytes: 1024 * 1024 });
    expect(delivered(await readAll(spool))).toEqual(tags.map((tag) => sized(100 * 1024, tag).lines));
    await spool.close();
  });

  it("after a restart with the cursor inside the oldest segment, later segments count in full", async () => {
    const first = await watch.open({ maxBytes: 1024 * 1024 });
    const tags = ["0", "1", "2", "3"];
    for (const tag of tags) await first.append([sized(100 * 1024, tag)]);
    const [entry] = await first.read(1);
    first.ack(entry!.end, 1);
    await first.close();
    expect(segmentFiles()).toHaveLength(2);
    const spool = await watch.open({ maxBytes: 1024 * 1024 });
    expect(spool.stats().events).toBe(3);
    expect(delivered(await readAll(spool))).toEqual(["1", "2", "3"].map((tag) => sized(100 * 1024, tag).lines));
    expect(watch.faults).toEqual([]);
    await spool.close();
  });
});
