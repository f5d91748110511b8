/**
 * The spool's write path: coalesced and concurrent appends, segment rotation at its edges, a failed
 * write, the once-a-second fsync, reclaiming delivered room, and what close and acknowledgement leave
 * on disk.
 */
import { getEventListeners } from "node:events";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SpoolFullError } from "../src/spool";
import { encodeRecord } from "../src/spool/record";
import { eventually } from "./helpers/eventually";
import { tempDir } from "./helpers/setup";
import { delivered, fsError, lines, readAll, SpoolWatch, wrapFiles } from "./helpers/spool";

/** One event whose record is exactly `bytes` bytes long (bucket "a"). */
const exactly = (bytes: number, tag = "x") => ({ bucket: "a", lines: `m s="${tag.repeat(bytes - 24)}" 1\n`, count: 1 });

describe("spool writes", () => {
  let dir: ReturnType<typeof tempDir>;
  let watch: SpoolWatch;
  const segmentFiles = () => readdirSync(dir.dir).filter((name) => name.startsWith("segment-"));

  beforeEach(() => {
    dir = tempDir();
    watch = new SpoolWatch(() => dir.dir);
  });
  afterEach(() => {
    vi.useRealTimers();
    dir.remove();
  });

  it("sizes records as the tests assume", () => {
    expect(encodeRecord(exactly(128 * 1024)).length).toBe(128 * 1024);
  });

  it("appends made at once are all written, in order, and read back in order, also after a restart", async () => {
    const spool = await watch.open();
    const appends = Array.from({ length: 50 }, (_, i) =>
      spool.append([
        { bucket: "a", lines: lines(i * 2, 1), count: 1 },
        { bucket: "b", lines: lines(i * 2 + 1, 1), count: 1 },
      ]),
    );
    await Promise.all(appends);
    const expected = Array.from({ length: 100 }, (_, i) => lines(i, 1));
    expect(delivered(await readAll(spool))).toEqual(expected);
    await spool.close();
    const again = await watch.open();
    expect(delivered(await readAll(again))).toEqual(expected);
    expect(again.stats().events).toBe(100);
    await again.close();
  });

  it("close waits for appends still being written", async () => {
    const spool = await watch.open();
    const pending = spool.append([{ bucket: "a", lines: lines(0, 3), count: 3 }]);
    await spool.close();
    await pending;
    const again = await watch.open();
    expect(delivered(await readAll(again))).toEqual([lines(0, 3)]);
    await again.close();
  });

  it("fills a segment to exactly its size before starting the next", async () => {
    // 1 MiB bound: 256 KiB segments.
    const spool = await watch.open({ maxBytes: 1024 * 1024 });
    await spool.append([exactly(128 * 1024, "a")]);
    await spool.append([exactly(128 * 1024, "b")]);
    expect(segmentFiles()).toHaveLength(1);
    await spool.append([exactly(100, "c")]);
    expect(segmentFiles()).toHaveLength(2);
    await spool.close();
  });

  it("writes a record larger than a segment into the empty one it has, without an empty file before it", async () => {
    const spool = await watch.open({ maxBytes: 1024 * 1024 });
    await spool.append([exactly(300 * 1024)]);
    expect(segmentFiles()).toHaveLength(1);
    await spool.close();
  });

  it("segments are at most 64 MiB, however large the bound", async () => {
    // Nothing reaches the disk here: the files only count what is written to them.
    let opened = 0;
    const fs = wrapFiles(() => {
      opened++;
      return { write: async (_buffer, _offset, length) => ({ bytesWritten: length }), datasync: async () => {} };
    });
    const spool = await watch.open({ fs, maxBytes: 1024 * 1024 * 1024 });
    await spool.append([exactly(33 * 1024 * 1024)]);
    expect(opened).toBe(1);
    await spool.append([exactly(33 * 1024 * 1024)]);
    expect(opened).toBe(2);
    await spool.close();
  });

  it("takes a record exactly as large as the bound; one that large waits for the room it needs", async () => {
    const bound = 300 * 1024;
    const spool = await watch.open({ maxBytes: bound });
    await spool.append([exactly(bound, "a")]);
    let settled = false;
    const waiting = spool.append([exactly(bound, "b")], { whenFull: "wait" }).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    const [entry] = await readAll(spool);
    spool.ack(entry!.end, 1);
    await waiting;
    expect(delivered(await readAll(spool))).toEqual([exactly(bound, "b").lines]);
    await spool.close();
  });

  it("a refused append frees delivered room, so the next one fits", async () => {
    const spool = await watch.open({ maxBytes: 300 * 1024 });
    await spool.append([exactly(200 * 1024)]);
    for (const entry of await readAll(spool)) spool.ack(entry.end, entry.count);
    await new Promise((resolve) => setTimeout(resolve, 150));
    // The delivered segment still takes its room on disk until the spool moves past it.
    await expect(spool.append([exactly(150 * 1024)])).rejects.toBeInstanceOf(SpoolFullError);
    // Moving past it starts a new segment and deletes the delivered one.
    await eventually(() => expect(spool.stats().diskBytes).toBe(0));
    await spool.append([exactly(150 * 1024, "y")]);
    expect(spool.stats()).toMatchObject({ events: 1, refusedEvents: 1 });
    await spool.close();
  });

  it("acknowledging everything keeps the segment being written when no append waits", async () => {
    const spool = await watch.open();
    await spool.append([{ bucket: "a", lines: lines(0, 2), count: 2 }]);
    const before = segmentFiles();
    for (const entry of await readAll(spool)) spool.ack(entry.end, entry.count);
    await eventually(() => expect(existsSync(join(dir.dir, "cursor.json"))).toBe(true));
    expect(segmentFiles()).toEqual(before);
    await spool.close();
  });

  it("an append arriving while delivered room is reclaimed is written once the new segment is open", async () => {
    let slow = false;
    const fs = wrapFiles((file) => ({
      datasync: async () => {
        if (slow) await new Promise((resolve) => setTimeout(resolve, 100));
        await file.datasync();
      },
    }));
    const spool = await watch.open({ fs, maxBytes: 300 * 1024 });
    await spool.append([exactly(200 * 1024)]);
    for (const entry of await readAll(spool)) spool.ack(entry.end, entry.count);
    await new Promise((resolve) => setTimeout(resolve, 150));
    slow = true;
    // Refused, and it starts the reclaim: a rotation whose fsync takes 100 ms.
    await expect(spool.append([exactly(150 * 1024)])).rejects.toBeInstanceOf(SpoolFullError);
    // Room for this one is there already; it is queued while the rotation holds the file.
    await spool.append([exactly(10 * 1024, "z")]);
    expect(delivered(await readAll(spool))).toEqual([exactly(10 * 1024, "z").lines]);
    await spool.close();
  });

  it("a failed write rejects its appends and the spool goes on, counting only what was written", async () => {
    let failing = true;
    const fs = wrapFiles((file) => ({
      write: (buffer, offset, length) =>
        failing ? Promise.reject(fsError("ENOSPC: no space left", "ENOSPC")) : file.write(buffer, offset, length),
    }));
    const spool = await watch.open({ fs, maxBytes: 300 * 1024 });
    await expect(spool.append([exactly(200 * 1024)])).rejects.toThrow("ENOSPC");
    failing = false;
    expect(spool.stats()).toMatchObject({ events: 0, diskBytes: 0 });
    // The failed write's bytes no longer count against the bound.
    await spool.append([exactly(250 * 1024, "w")]);
    expect(delivered(await readAll(spool))).toEqual([exactly(250 * 1024, "w").lines]);
    await spool.close();
  });

  it("fsyncs once a second only when something was written since, and again after a failed fsync", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    let syncs = 0;
    let failing = false;
    const fs = wrapFiles((file) => ({
      datasync: async () => {
        syncs++;
        if (failing) throw fsError("EIO: fsync failed");
        await file.datasync();
      },
    }));
    const spool = await watch.open({ fs });
    vi.advanceTimersByTime(1000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(syncs).toBe(0);
    await spool.append([{ bucket: "a", lines: lines(0, 1), count: 1 }]);
    vi.advanceTimersByTime(1000);
    await eventually(() => syncs === 1);
    vi.advanceTimersByTime(1000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(syncs).toBe(1);
    failing = true;
    await spool.append([{ bucket: "a", lines: lines(1, 1), count: 1 }]);
    vi.advanceTimersByTime(1000);
    await eventually(() => syncs === 2);
    // What the failed fsync should have made durable is tried again.
    vi.advanceTimersByTime(1000);
    await eventually(() => syncs === 3);
    failing = false;
    await spool.close();
  });

  it("a spool never acknowledged writes no cursor file; a cursor that could not be saved is saved on close", async () => {
    const spool = await watch.open();
    await spool.append([{ bucket: "a", lines: lines(0, 2), count: 2 }]);
    await spool.close();
    expect(existsSync(join(dir.dir, "cursor.json"))).toBe(false);

    let failRename = true;
    const fs = { ...wrapFiles(() => ({})) };
    const rename = fs.rename;
    fs.rename = (from, to) => (failRename ? Promise.reject(fsError("EIO: rename")) : rename(from, to));
    const again = await watch.open({ fs });
    const [entry] = await readAll(again);
    again.ack(entry!.end, 2);
    await eventually(() => watch.logLines.some((line) => line.includes("could not save the delivery cursor")));
    failRename = false;
    await again.close();
    expect(JSON.parse(readFileSync(join(dir.dir, "cursor.json"), "utf8"))).toEqual(entry!.end);
  });

  it("a read woken by new data leaves no listener on its signal", async () => {
    const spool = await watch.open();
    const controller = new AbortController();
    const reading = spool.read(1024, controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await spool.append([{ bucket: "a", lines: lines(0, 1), count: 1 }]);
    expect(delivered(await reading)).toEqual([lines(0, 1)]);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    await spool.close();
  });

  it("two reads at once never hand out the same record", async () => {
    const first = await watch.open();
    for (let i = 0; i < 6; i++) await first.append([{ bucket: "a", lines: lines(i, 1), count: 1 }]);
    await first.close();
    const spool = await watch.open();
    const seen: string[] = [];
    for (;;) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const batches = await Promise.all([spool.read(1, controller.signal), spool.read(1, controller.signal)]);
      if (batches.every((batch) => batch.length === 0)) break;
      for (const batch of batches) seen.push(...delivered(batch));
    }
    expect(seen.sort()).toEqual(Array.from({ length: 6 }, (_, i) => lines(i, 1)).sort());
    await spool.close();
  });
});
