/**
 * The writer as a process: killed with SIGKILL it loses nothing it acknowledged and resends nothing
 * InfluxDB already acknowledged; on SIGTERM it flushes before exiting. The child runs the compiled
 * sources (built once for this file).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type FakeInflux, startFakeInflux } from "./helpers/fakeInflux";
import { startTestPipeline, tempDir, testConfig } from "./helpers/setup";

const writerDir = join(__dirname, "..");
const stateOf = (line: string) => Number(/state_value="(\d+)"/.exec(line)![1]);

describe("the writer process", () => {
  const build = tempDir("ha-influx-writer-build-");
  let fake: FakeInflux;
  let spool: ReturnType<typeof tempDir>;
  let child: ChildProcess | undefined;
  let output: string[] = [];

  beforeAll(() => {
    execFileSync(
      process.execPath,
      [require.resolve("typescript/bin/tsc"), "-p", join(writerDir, "tsconfig.build.json"), "--outDir", build.dir],
      { stdio: "pipe" },
    );
  }, 120_000);
  afterAll(() => build.remove());

  beforeEach(async () => {
    fake = await startFakeInflux();
    spool = tempDir();
    output = [];
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    child = undefined;
    await fake.close();
    spool.remove();
  });

  function startChild(env: Record<string, string>): ChildProcess {
    const started = spawn(process.execPath, [join(__dirname, "fixtures", "child-writer.cjs")], {
      env: {
        PATH: process.env.PATH ?? "",
        // The compiled files live outside the package: point them at its dependencies.
        NODE_PATH: [join(writerDir, "node_modules"), join(writerDir, "..", "node_modules")].join(":"),
        WRITER_DIST: build.dir,
        INFLUX_URL: fake.url,
        SPOOL_DIR: spool.dir,
        BATCH_SIZE: "1000",
        BATCH_TIMEOUT_SECONDS: "0.05",
        EVENTS: "0",
        ...env,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    createInterface({ input: started.stdout! }).on("line", (line) => output.push(line));
    child = started;
    return started;
  }

  function until(predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const poll = () => {
        if (predicate()) return resolve();
        if (child && child.exitCode !== null)
          return reject(new Error(`child exited (${child.exitCode}) before ${what}`));
        if (Date.now() > deadline) return reject(new Error(`gave up waiting for ${what}`));
        setTimeout(poll, 10);
      };
      poll();
    });
  }

  function exited(process: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (process.exitCode !== null || process.signalCode !== null)
      return Promise.resolve({ code: process.exitCode, signal: process.signalCode });
    return new Promise((resolve) => process.once("exit", (code, signal) => resolve({ code, signal })));
  }

  const lastAccepted = () =>
    Math.max(-1, ...output.filter((line) => line.startsWith("accepted ")).map((line) => Number(line.slice(9))));

  /** Restarts the writer in this process on the same spool and delivers everything it recovered. */
  async function recoverInProcess(): Promise<void> {
    const { pipeline } = await startTestPipeline(
      testConfig(fake.url, spool.dir, { influxdb: { batchSize: 1000, batchTimeoutSeconds: 0.05 } }),
    );
    const result = await pipeline.stop(30_000);
    expect(result.drained).toBe(true);
  }

  it("loses no acknowledged event when killed with SIGKILL during an InfluxDB outage", async () => {
    fake.answer = () => ({ status: 503, body: { code: "unavailable", message: "outage" } });
    const writer = startChild({});
    await until(() => lastAccepted() >= 3000, "3000 accepted events");
    writer.kill("SIGKILL");
    const { signal } = await exited(writer);
    expect(signal).toBe("SIGKILL");
    const acknowledged = lastAccepted();

    fake.answer = () => undefined;
    const requestsBefore = fake.requests.length;
    await recoverInProcess();
    const delivered = new Set(
      fake.requests
        .slice(requestsBefore)
        .flatMap((request) => request.lines)
        .map(stateOf),
    );
    const missing = Array.from({ length: acknowledged + 1 }, (_, seq) => seq).filter((seq) => !delivered.has(seq));
    expect(missing).toEqual([]);
  });

  it("after a SIGKILL resends only what InfluxDB had not acknowledged, and all of it", async () => {
    // The first five batches (by content: four senders' requests may arrive in any order) get a 204;
    // later ones hang, as a server that died mid-write.
    fake.answer = (request) => (request.lines.every((line) => stateOf(line) < 5000) ? undefined : "hang");
    const writer = startChild({ EVENTS: "20000" });
    await until(
      () => output.includes("submitted") && fake.requests.length >= 6,
      "5 acknowledged batches and one hanging",
    );
    // Outlive the spool's cursor write, which trails the last acknowledgement by 100 ms (generously:
    // the machine may be busy).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    writer.kill("SIGKILL");
    await exited(writer);
    const acknowledged = new Set(fake.acceptedLines().map(stateOf));
    expect(acknowledged.size).toBeGreaterThan(1000);

    fake.answer = () => undefined;
    const requestsBefore = fake.requests.length;
    await recoverInProcess();
    const resent = fake.requests
      .slice(requestsBefore)
      .flatMap((request) => request.lines)
      .map(stateOf);
    // The cursor moves over whole records (one submit call, 100 events here): the record that straddles
    // the last acknowledged batch is the most that can come again.
    expect(resent.filter((seq) => acknowledged.has(seq)).length).toBeLessThan(100);
    expect(new Set([...acknowledged, ...resent]).size).toBe(20000);
  });

  it("flushes what is batched when it receives SIGTERM, then exits 0", async () => {
    const writer = startChild({ EVENTS: "3000", BATCH_SIZE: "10000", BATCH_TIMEOUT_SECONDS: "600" });
    await until(() => output.includes("submitted"), "all events submitted");
    expect(fake.requests).toHaveLength(0);
    writer.kill("SIGTERM");
    const { code } = await exited(writer);
    expect(code).toBe(0);
    expect(output).toContain('stopped {"drained":true,"pendingEvents":0}');
    expect(new Set(fake.acceptedLines().map(stateOf)).size).toBe(3000);
  });
});
