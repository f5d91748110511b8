/** The spool's small parts as tables: the cursor file, the lock, position order, the backoff's sleep. */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sleep } from "../src/backoff";
import { comparePositions, readCursor, writeCursor } from "../src/spool/cursor";
import { nodeFs, readRange, type SpoolFile, type SpoolFs, writeAll } from "../src/spool/fs";
import { processIdentity, takeLock } from "../src/spool/lock";
import { tempDir } from "./helpers/setup";

describe("spool parts", () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.remove());

  it.each([
    ['{"segment":3,"offset":120}', { segment: 3, offset: 120 }, false],
    ['{"segment":0,"offset":0}', { segment: 0, offset: 0 }, false],
    ['{"segment":-1,"offset":0}', { segment: 0, offset: 0 }, true],
    ['{"segment":2,"offset":-5}', { segment: 0, offset: 0 }, true],
    ['{"segment":2.5,"offset":0}', { segment: 0, offset: 0 }, true],
    ['{"segment":2,"offset":"9"}', { segment: 0, offset: 0 }, true],
    ['{"segment":2}', { segment: 0, offset: 0 }, true],
    ['{"segment":2,"offset":9007199254740993}', { segment: 0, offset: 0 }, true],
    ['{"segment":4,"offset":7,"note":"extra keys are ignored"}', { segment: 4, offset: 7 }, false],
    ["null", { segment: 0, offset: 0 }, true],
    ["[]", { segment: 0, offset: 0 }, true],
    ["not json", { segment: 0, offset: 0 }, true],
  ])("reads the cursor %s as %o (a problem: %s)", async (text, position, problem) => {
    writeFileSync(join(dir.dir, "cursor.json"), text);
    const read = await readCursor(nodeFs, dir.dir);
    expect(read.position).toEqual(position);
    expect(read.problem !== undefined).toBe(problem);
    if (problem) expect(read.problem).toContain("cursor.json is corrupt");
  });

  it("a missing cursor is a first start, not a problem; a written one reads back", async () => {
    expect(await readCursor(nodeFs, dir.dir)).toEqual({ position: { segment: 0, offset: 0 } });
    await writeCursor(nodeFs, dir.dir, { segment: 7, offset: 42 });
    expect(await readCursor(nodeFs, dir.dir)).toEqual({ position: { segment: 7, offset: 42 } });
    expect(existsSync(join(dir.dir, "cursor.json.tmp"))).toBe(false);
  });

  it("an unreadable cursor is a problem naming the read error, not a first start", async () => {
    mkdirSync(join(dir.dir, "cursor.json"));
    const read = await readCursor(nodeFs, dir.dir);
    expect(read.position).toEqual({ segment: 0, offset: 0 });
    expect(read.problem).toMatch(/^cannot read cursor\.json: EISDIR/);
  });

  it("reports a corrupt cursor with its first 80 characters, quoted", async () => {
    const text = `{"segment": 1, "offset": ${"9".repeat(200)}`;
    writeFileSync(join(dir.dir, "cursor.json"), text);
    const read = await readCursor(nodeFs, dir.dir);
    expect(read.problem).toBe(`cursor.json is corrupt: ${JSON.stringify(text.slice(0, 80))}`);
  });

  it("saves the cursor by writing a temp file and renaming it over the old one", async () => {
    const calls: string[] = [];
    const recording: SpoolFs = {
      ...nodeFs,
      writeFile: async (path, data) => {
        calls.push(`write ${relative(dir.dir, path)} ${data}`);
        await nodeFs.writeFile(path, data);
      },
      rename: async (from, to) => {
        calls.push(`rename ${relative(dir.dir, from)} ${relative(dir.dir, to)}`);
        await nodeFs.rename(from, to);
      },
    };
    await writeCursor(recording, dir.dir, { segment: 2, offset: 9 });
    expect(calls).toEqual(['write cursor.json.tmp {"segment":2,"offset":9}', "rename cursor.json.tmp cursor.json"]);
    expect(JSON.parse(readFileSync(join(dir.dir, "cursor.json"), "utf8"))).toEqual({ segment: 2, offset: 9 });
  });

  it("orders positions by segment, then offset", () => {
    expect(comparePositions({ segment: 1, offset: 900 }, { segment: 2, offset: 0 })).toBeLessThan(0);
    expect(comparePositions({ segment: 2, offset: 5 }, { segment: 2, offset: 3 })).toBeGreaterThan(0);
    expect(comparePositions({ segment: 2, offset: 5 }, { segment: 2, offset: 5 })).toBe(0);
  });

  it("the lock holds this pid, refuses a second taker in this process, and is gone once released", () => {
    const lock = takeLock(dir.dir);
    expect(readFileSync(join(dir.dir, "lock"), "utf8")).toBe(String(process.pid));
    expect(() => takeLock(dir.dir)).toThrow(`spool directory ${dir.dir} is in use by process ${process.pid}`);
    lock.release();
    lock.release();
    expect(existsSync(join(dir.dir, "lock"))).toBe(false);
    takeLock(dir.dir).release();
  });

  it("a released lock leaves this process free to take the directory again, even with a stale lock of its own pid", () => {
    takeLock(dir.dir).release();
    // A lock file carrying this pid that this process did not take (a restart as the same pid) is stale.
    writeFileSync(join(dir.dir, "lock"), String(process.pid));
    const lock = takeLock(dir.dir);
    expect(readFileSync(join(dir.dir, "lock"), "utf8")).toBe(String(process.pid));
    lock.release();
  });

  it("a released lock closes its file descriptor", () => {
    const open = () => readdirSync("/proc/self/fd").length;
    const before = open();
    const lock = takeLock(dir.dir);
    expect(open()).toBe(before + 1);
    lock.release();
    expect(open()).toBe(before);
  });

  it("releasing a lock whose file someone already removed is no error", () => {
    const lock = takeLock(dir.dir);
    rmSync(join(dir.dir, "lock"));
    expect(() => lock.release()).not.toThrow();
    takeLock(dir.dir).release();
  });

  it("releasing an old lock a second time does not remove the lock taken after it", () => {
    const first = takeLock(dir.dir);
    first.release();
    const second = takeLock(dir.dir);
    first.release();
    expect(existsSync(join(dir.dir, "lock"))).toBe(true);
    expect(() => takeLock(dir.dir)).toThrow("is in use by process");
    second.release();
  });

  it("knows the directory however its path is written, and other directories apart", () => {
    const lock = takeLock(dir.dir);
    expect(() => takeLock(relative(process.cwd(), dir.dir))).toThrow(`is in use by process ${process.pid}`);
    const other = tempDir();
    try {
      writeFileSync(join(other.dir, "lock"), String(process.pid));
      takeLock(other.dir).release();
    } finally {
      other.remove();
    }
    lock.release();
  });

  it("refuses a lock held by a live other process, naming it, and leaves its lock file alone", () => {
    writeFileSync(join(dir.dir, "lock"), "31337");
    const asked: number[] = [];
    const identity = {
      pid: 4242,
      isAlive: (pid: number) => {
        asked.push(pid);
        return pid === 31337;
      },
    };
    expect(() => takeLock(dir.dir, identity)).toThrow(`spool directory ${dir.dir} is in use by process 31337`);
    expect(asked).toEqual([31337]);
    expect(readFileSync(join(dir.dir, "lock"), "utf8")).toBe("31337");
  });

  it("passes on a failure other than an existing lock file (a missing directory)", () => {
    expect(() => takeLock(join(dir.dir, "missing"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });

  it("counts a process it may not signal (EPERM: another user's) as alive", () => {
    const kill = vi.spyOn(process, "kill").mockImplementation(() => {
      throw Object.assign(new Error("kill EPERM"), { code: "EPERM" });
    });
    try {
      expect(processIdentity.isAlive(12345)).toBe(true);
      expect(kill).toHaveBeenCalledWith(12345, 0);
    } finally {
      kill.mockRestore();
    }
  });

  it.each([["garbage"], ["0"], ["-4"], [""]])("takes over a lock file holding %j (no live owner)", (content) => {
    writeFileSync(join(dir.dir, "lock"), content);
    const lock = takeLock(dir.dir, { pid: 4242, isAlive: () => true });
    expect(readFileSync(join(dir.dir, "lock"), "utf8")).toBe("4242");
    lock.release();
  });

  it("takes over a lock whose owner is dead", () => {
    writeFileSync(join(dir.dir, "lock"), "31337");
    const lock = takeLock(dir.dir, { pid: 4242, isAlive: (pid) => pid !== 31337 });
    expect(readFileSync(join(dir.dir, "lock"), "utf8")).toBe("4242");
    lock.release();
  });

  it("sees this process alive, and a pid that cannot exist dead", () => {
    expect(processIdentity.isAlive(process.pid)).toBe(true);
    expect(processIdentity.isAlive(2 ** 22 + 1)).toBe(false);
  });

  it("sleep ends at its time, or at once when aborted before or during", async () => {
    const started = Date.now();
    await sleep(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    const aborted = new AbortController();
    aborted.abort();
    const before = Date.now();
    await sleep(10_000, aborted.signal);
    const during = new AbortController();
    setTimeout(() => during.abort(), 10);
    await sleep(10_000, during.signal);
    expect(Date.now() - before).toBeLessThan(5000);
  });

  it("writes all of a buffer through writes that take only part of it", async () => {
    const offered: [number, number][] = [];
    const taken: string[] = [];
    const file = {
      write: async (buffer: Buffer, offset: number, length: number) => {
        offered.push([offset, length]);
        const bytesWritten = Math.min(3, length);
        taken.push(buffer.toString("utf8", offset, offset + bytesWritten));
        return { bytesWritten };
      },
    } as SpoolFile;
    await writeAll(file, Buffer.from("abcdefgh"));
    expect(taken).toEqual(["abc", "def", "gh"]);
    expect(offered).toEqual([
      [0, 8],
      [3, 5],
      [6, 2],
    ]);
  });

  it("reads a range through short reads, and stops at the end of the file", async () => {
    const content = Buffer.from("0123456789");
    const asked: number[][] = [];
    const file = {
      read: async (buffer: Buffer, offset: number, length: number, position: number) => {
        asked.push([offset, length, position]);
        const bytesRead = Math.max(0, Math.min(4, length, content.length - position));
        content.copy(buffer, offset, position, position + bytesRead);
        return { bytesRead };
      },
    } as SpoolFile;
    expect((await readRange(file, 1, 7)).toString()).toBe("1234567");
    expect(asked).toEqual([
      [0, 7, 1],
      [4, 3, 5],
    ]);
    expect((await readRange(file, 6, 50)).toString()).toBe("6789");
    expect((await readRange(file, 10, 5)).length).toBe(0);
  });

  it("the real file system: nested directories, a forced remove, size, truncate and append", async () => {
    const nested = join(dir.dir, "a", "b");
    await nodeFs.mkdir(nested);
    await nodeFs.mkdir(nested);
    const path = join(nested, "f");
    await nodeFs.rm(path);
    const file = await nodeFs.open(path, "a");
    await writeAll(file, Buffer.from("hello"));
    await file.close();
    const again = await nodeFs.open(path, "a");
    await writeAll(again, Buffer.from(" world"));
    await again.datasync();
    await again.close();
    expect(await nodeFs.size(path)).toBe(11);
    await nodeFs.truncate(path, 5);
    expect((await nodeFs.readFile(path)).toString()).toBe("hello");
    expect(await nodeFs.readdir(nested)).toEqual(["f"]);
    const reading = await nodeFs.open(path, "r");
    expect((await readRange(reading, 1, 3)).toString()).toBe("ell");
    await reading.close();
    await nodeFs.rm(path);
    expect(existsSync(path)).toBe(false);
  });
});
