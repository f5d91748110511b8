/**
 * The pipeline changes what it remembers per entity only once a batch is durable: a failed spool
 * append forgets that batch and nothing else, a batch computed while an earlier one is still being
 * appended builds on it, and `stop` waits for the submits in progress to end.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMetrics } from "../src/metrics";
import { createPipeline, type Pipeline } from "../src/pipeline";
import { HOME_ASSISTANT_SOURCE } from "../src/sources/sink";
import type { SpoolFile, SpoolFs } from "../src/spool";
import { nodeFs } from "../src/spool/fs";
import { type FakeInflux, startFakeInflux } from "./helpers/fakeInflux";
import { memoryLogger, stateChanged, stateOf, tempDir, testConfig } from "./helpers/setup";

const HA = HOME_ASSISTANT_SOURCE;
const field = (line: string, key: string) => new RegExp(`[ ,]${key}=([^, ]+)`).exec(line)?.[1];

/** Spool file access whose segment writes can be held back and made to fail. */
function controlledFs() {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let failures: Error[] = [];
  let writes = 0;
  const fs: SpoolFs = {
    ...nodeFs,
    async open(path, flags) {
      const file = await nodeFs.open(path, flags);
      if (flags !== "a") return file;
      const controlled: SpoolFile = {
        async write(buffer, offset, length) {
          writes++;
          await gate;
          const failure = failures.shift();
          if (failure) throw failure;
          return file.write(buffer, offset, length);
        },
        read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
        datasync: () => file.datasync(),
        close: () => file.close(),
      };
      return controlled;
    },
  };
  return {
    fs,
    /** Writes from now on wait until `release`. */
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate = undefined;
      open?.();
    },
    /** The next write (after the gate) fails with this error. */
    failNext(error: Error) {
      failures = [...failures, error];
    },
    /** Writes started so far. */
    get writes() {
      return writes;
    },
  };
}

/** Resolves once `count` segment writes have started (each submit's append is one). */
async function writesStarted(control: ReturnType<typeof controlledFs>, count: number): Promise<void> {
  while (control.writes < count) await new Promise((resolve) => setImmediate(resolve));
}

describe("pipeline memory and durability", () => {
  let fake: FakeInflux;
  let spool: ReturnType<typeof tempDir>;
  let pipeline: Pipeline | undefined;
  let control: ReturnType<typeof controlledFs>;

  beforeEach(async () => {
    fake = await startFakeInflux();
    spool = tempDir();
    control = controlledFs();
  });
  afterEach(async () => {
    control.release();
    await pipeline?.stop(2000);
    pipeline = undefined;
    await fake.close();
    spool.remove();
  });

  async function start(): Promise<Pipeline> {
    const { logger } = memoryLogger();
    pipeline = createPipeline(testConfig(fake.url, spool.dir), {
      logger,
      metrics: createMetrics({ processMetrics: false }),
      retry: { baseMs: 5, maxMs: 40 },
      spoolFs: control.fs,
    });
    await pipeline.start();
    return pipeline;
  }

  const t1 = "2026-06-01T10:00:00.000000+00:00";
  const t2 = "2026-06-01T10:01:00.000000+00:00";
  const t3 = "2026-06-01T10:02:00.000000+00:00";

  it("commits a batch's memory only after its append succeeded: a failed batch resent is written, not taken for a repeat", async () => {
    const writer = await start();
    control.failNext(new Error("EIO: i/o error, write"));
    await expect(writer.submit([stateChanged("light.x", "on", t1)], HA)).rejects.toThrow(/EIO/);
    await writer.submit([stateChanged("light.x", "on", t1)], HA);
    await writer.flush(2000);
    const lines = fake.acceptedLines();
    expect(lines.map(stateOf)).toEqual(["on"]);
    expect(field(lines[0]!, "previous_state")).toBeUndefined();
  });

  it("a failed append leaves what earlier submits taught about its entities", async () => {
    const writer = await start();
    await writer.submit([stateChanged("light.x", "on", t1)], HA);
    control.failNext(new Error("EIO: i/o error, write"));
    await expect(writer.submit([stateChanged("light.x", "off", t2)], HA)).rejects.toThrow(/EIO/);
    await writer.submit([stateChanged("light.x", "off", t2)], HA);
    await writer.flush(2000);
    const lines = fake.acceptedLines();
    expect(lines.map(stateOf)).toEqual(["on", "off"]);
    expect(field(lines[1]!, "previous_state")).toBe('"on"');
    expect(field(lines[1]!, "duration_seconds")).toBe("60");
  });

  it("a batch computed while an earlier one is appended builds on it, and keeps its memory when the earlier fails", async () => {
    const writer = await start();
    control.hold();
    control.failNext(new Error("EIO: i/o error, write"));
    const first = writer.submit([stateChanged("light.x", "on", t1)], HA);
    await writesStarted(control, 1);
    const second = writer.submit([stateChanged("light.x", "off", t2)], HA);
    control.release();
    await expect(first).rejects.toThrow(/EIO/);
    await second;
    await writer.submit([stateChanged("light.x", "on", t3)], HA);
    await writer.flush(2000);
    const lines = fake.acceptedLines();
    expect(lines.map(stateOf)).toEqual(["off", "on"]);
    // Computed on the first batch's held memory, before that append failed.
    expect(field(lines[0]!, "previous_state")).toBe('"on"');
    // The second batch's memory was committed although the first, held before it, failed.
    expect(field(lines[1]!, "previous_state")).toBe('"off"');
    expect(field(lines[1]!, "duration_seconds")).toBe("60");
  });

  it("stop waits for the submit in progress, then delivers it", async () => {
    const writer = await start();
    control.hold();
    const submitted = writer.submit([stateChanged("light.x", "on", t1)], HA);
    await writesStarted(control, 1);
    let stopped = false;
    const stopping = writer.stop(10_000).then((result) => {
      stopped = true;
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    control.release();
    await submitted;
    expect(await stopping).toEqual({ drained: true, pendingEvents: 0 });
    expect(fake.acceptedLines().map(stateOf)).toEqual(["on"]);
  });
});
