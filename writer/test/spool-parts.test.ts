/** The spool's small parts as tables: the cursor file, the lock, position order, the backoff's sleep. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sleep } from "../src/backoff";
import { comparePositions, readCursor, writeCursor } from "../src/spool/cursor";
import { nodeFs } from "../src/spool/fs";
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

  it.each([["garbage"], ["0"], ["-4"], [""]])("takes over a lock file holding %j (no live owner)", (content) => {
    writeFileSync(join(dir.dir, "lock"), content);
    const lock = takeLock(dir.dir, { pid: 4242, isAlive: () => true });
    expect(readFileSync(join(dir.dir, "lock"), "utf8")).toBe("4242");
    lock.release();
  });

  it("takes over a lock whose owner is dead", () => {
    writeFileSync(join(dir.dir, "lock"), "31337");
    const lock = takeLock(dir.dir, { pid: 4242, isAlive: (pid) => pid !== 31337 });
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
});
