/**
 * Durability under injected faults. Each case states what is delivered, what is skipped and what is
 * reported: damaged bytes on disk, a torn last write, an unusable cursor, a failing fsync (through the
 * spool's file-system layer), and the lock after a container restart or held by a live process.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SpoolFs } from "../src/spool";
import { nodeFs } from "../src/spool/fs";
import { tempDir } from "./helpers/setup";
import { delivered, fsError, lines, readAll, SpoolWatch, wrapFiles } from "./helpers/spool";

describe("spool under faults", () => {
  let dir: ReturnType<typeof tempDir>;
  let watch: SpoolWatch;

  /** Three records of 2, 3 and 4 events in one segment; returns the segment path and record offsets. */
  async function threeRecords(): Promise<{ path: string; offsets: number[] }> {
    const { path, ends } = await watch.written([2, 3, 4]);
    return { path, offsets: [0, ends[0]!, ends[1]!] };
  }

  beforeEach(() => {
    dir = tempDir();
    watch = new SpoolWatch(() => dir.dir);
  });
  afterEach(() => dir.remove());

  it("a flipped byte mid-segment: delivers the records around it, skips exactly the damaged one, reports it", async () => {
    const { path, offsets } = await threeRecords();
    const bytes = readFileSync(path);
    bytes[offsets[1]! + 20] ^= 0x01; // inside the second record's lines
    writeFileSync(path, bytes);

    const spool = await watch.open();
    expect(delivered(await readAll(spool))).toEqual([lines(0, 2), lines(5, 4)]);
    expect(watch.dropped).toBe(3);
    expect(spool.stats()).toMatchObject({ droppedEvents: 3, events: 6 });
    expect(watch.faults).toHaveLength(1);
    expect(watch.faults[0]!.kind).toBe("corrupt");
    expect(watch.faults[0]!.message).toContain(`skipped damaged bytes ${offsets[1]}–${offsets[2]}`);
    expect(watch.faults[0]!.message).toContain("3 events lost");
    expect(watch.logLines.some((line) => line.includes("SPOOL FAULT") && line.includes('"level":50'))).toBe(true);
    await spool.close();
  });

  it("a record truncated mid-segment: delivers the whole records after it, reports the hole (its events unknown)", async () => {
    const { path, offsets } = await threeRecords();
    const bytes = readFileSync(path);
    // The second record loses its last 10 bytes; the third follows right after what is left.
    writeFileSync(path, Buffer.concat([bytes.subarray(0, offsets[2]! - 10), bytes.subarray(offsets[2]!)]));

    const spool = await watch.open();
    expect(delivered(await readAll(spool))).toEqual([lines(0, 2), lines(5, 4)]);
    expect(watch.faults.map((fault) => fault.kind)).toEqual(["corrupt"]);
    expect(watch.faults[0]!.message).toContain("an unknown number of events lost");
    expect(spool.stats().events).toBe(6);
    await spool.close();
  });

  it("a torn last write: keeps every whole record, cuts the tail off with a warning, drops nothing", async () => {
    const { path, offsets } = await threeRecords();
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, offsets[2]! + 15));

    const spool = await watch.open();
    expect(delivered(await readAll(spool))).toEqual([lines(0, 2), lines(2, 3)]);
    expect(readFileSync(path).length).toBe(offsets[2]);
    expect(watch.faults).toEqual([]);
    expect(watch.dropped).toBe(0);
    expect(watch.logLines.some((line) => line.includes("torn record") && line.includes('"level":40'))).toBe(true);
    await spool.close();
  });

  it("a byte damaged on disk after recovery: the reader skips the rest of the segment and counts exactly what it skipped", async () => {
    const { path, offsets } = await threeRecords();
    const spool = await watch.open();
    const bytes = readFileSync(path);
    bytes[offsets[1]! + 20] ^= 0x01;
    writeFileSync(path, bytes);
    expect(delivered(await readAll(spool))).toEqual([lines(0, 2)]);
    expect(watch.dropped).toBe(7);
    expect(spool.stats()).toMatchObject({ events: 2, droppedEvents: 7 });
    expect(watch.faults[0]!.message).toContain("7 events lost");
    await spool.close();
  });

  it("a segment cut short on disk after recovery: the reader skips its rest and counts what it skipped, instead of retrying the short read", async () => {
    const { path, offsets } = await threeRecords();
    const spool = await watch.open();
    truncateSync(path, offsets[1]! + 5);
    expect(delivered(await readAll(spool))).toEqual([lines(0, 2)]);
    expect(watch.dropped).toBe(7);
    expect(spool.stats()).toMatchObject({ events: 2, droppedEvents: 7 });
    expect(watch.faults[0]!.message).toContain("7 events lost");
    await spool.close();
  });

  it("a corrupt cursor: delivers everything again from the oldest segment and reports it", async () => {
    await threeRecords();
    writeFileSync(join(dir.dir, "cursor.json"), '{"segment": "zero"');
    const spool = await watch.open();
    expect(delivered(await readAll(spool))).toEqual([lines(0, 2), lines(2, 3), lines(5, 4)]);
    expect(watch.faults.map((fault) => fault.kind)).toEqual(["cursor"]);
    expect(watch.faults[0]!.message).toContain("cursor.json is corrupt");
    await spool.close();
  });

  it("an unreadable cursor: delivers everything again and reports the read error", async () => {
    await threeRecords();
    writeFileSync(join(dir.dir, "cursor.json"), JSON.stringify({ segment: 0, offset: 0 }));
    const fs: SpoolFs = {
      ...nodeFs,
      readFile: (path) =>
        path.endsWith("cursor.json") ? Promise.reject(fsError("EIO: i/o error")) : nodeFs.readFile(path),
    };
    const spool = await watch.open({ fs });
    expect(delivered(await readAll(spool))).toHaveLength(3);
    expect(watch.faults.map((fault) => fault.kind)).toEqual(["cursor"]);
    expect(watch.faults[0]!.message).toContain("EIO");
    await spool.close();
  });

  it("a cursor pointing inside a record: resends from the record boundary before it and reports it", async () => {
    const { path, offsets } = await threeRecords();
    const segment = Number(/segment-(\d+)\.log$/.exec(path)![1]);
    writeFileSync(join(dir.dir, "cursor.json"), JSON.stringify({ segment, offset: offsets[1]! + 5 }));
    const spool = await watch.open();
    expect(delivered(await readAll(spool))).toEqual([lines(2, 3), lines(5, 4)]);
    expect(watch.faults.map((fault) => fault.kind)).toEqual(["cursor"]);
    expect(watch.faults[0]!.message).toBe(
      `the cursor points inside a record of segment ${segment}; delivering again from the record before it`,
    );
    const logged = watch.logLines.map((line) => JSON.parse(line)).find((line) => line.fault === "cursor");
    expect(logged).toMatchObject({ segment, cursorOffset: offsets[1]! + 5, resumeOffset: offsets[1] });
    expect(spool.stats().events).toBe(7);
    await spool.close();
  });

  it("a failing fsync: reported (fault, log, unhealthy) and not cleared by a later fsync that works", async () => {
    let failing = true;
    const fs = wrapFiles((file) => ({
      datasync: () => (failing ? Promise.reject(fsError("EIO: fsync failed")) : file.datasync()),
    }));
    const spool = await watch.open({ fs });
    await spool.append([{ bucket: "a", lines: lines(0, 2), count: 2 }]);
    // The once-a-second fsync runs and fails.
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(spool.health().healthy).toBe(false);
    expect(watch.faults.map((fault) => fault.kind)).toContain("fsync");
    expect(
      watch.logLines.some((line) => line.includes("fsync of the spool failed") && line.includes('"level":50')),
    ).toBe(true);
    failing = false;
    await spool.append([{ bucket: "a", lines: lines(2, 2), count: 2 }]);
    await spool.close();
    expect(spool.health().healthy).toBe(false);
    expect(spool.health().message).toMatch(/may not survive a power cut/);
  });

  it("the once-a-second fsync that comes while a rotated segment is still closing is no fault", async () => {
    // As a FileHandle does: once `close()` has begun, a datasync on it fails with "file closed".
    // Closing takes 1.2 s here (a slow disk), so the interval's fsync comes while it is under way.
    const fs = wrapFiles((file, _path, flags) => {
      let closing = false;
      return {
        datasync: () => (closing ? Promise.reject(fsError("file closed", "EBADF")) : file.datasync()),
        close: async () => {
          closing = true;
          if (flags === "a") await new Promise((resolve) => setTimeout(resolve, 1200));
          await file.close();
        },
      };
    });
    // Small segments (256 KiB): the second append, of 300 KiB, rotates to a new one.
    const spool = await watch.open({ fs, maxBytes: 2 * 1024 * 1024 });
    await spool.append([{ bucket: "a", lines: lines(0, 2), count: 2 }]);
    await spool.append([{ bucket: "a", lines: `m s="${"x".repeat(300 * 1024)}" 1\n`, count: 1 }]);
    expect(readdirSync(dir.dir).filter((file) => file.startsWith("segment-")).length).toBeGreaterThan(1);
    await spool.close();
    expect(watch.faults).toEqual([]);
    expect(spool.health().healthy).toBe(true);
    expect(watch.logLines.filter((line) => line.includes("fsync"))).toEqual([]);
    const reopened = await watch.open();
    expect(delivered(await readAll(reopened))).toEqual([lines(0, 2), `m s="${"x".repeat(300 * 1024)}" 1\n`]);
    await reopened.close();
  });

  it("a stale lock carrying this process's own pid (a container restart: pid 1 again) is taken over", async () => {
    writeFileSync(join(dir.dir, "lock"), "1");
    const spool = await watch.open({ lockIdentity: { pid: 1, isAlive: () => true } });
    expect(readFileSync(join(dir.dir, "lock"), "utf8")).toBe("1");
    await spool.close();
  });

  it("a lock held by a live other process is refused, naming it; once that process is gone it is taken over", async () => {
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await new Promise((resolve) => other.once("spawn", resolve));
      writeFileSync(join(dir.dir, "lock"), String(other.pid));
      await expect(watch.open()).rejects.toThrow(`in use by process ${other.pid}`);
    } finally {
      other.kill("SIGKILL");
      await new Promise((resolve) => other.once("exit", resolve));
    }
    const spool = await watch.open();
    expect(readFileSync(join(dir.dir, "lock"), "utf8")).toBe(String(process.pid));
    await spool.close();
  });
});
