import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type FakeInflux, startFakeInflux } from "./helpers/fakeInflux";
import { tempDir } from "./helpers/setup";

const CLI = join(__dirname, "..", "src", "cli.ts");
const INFLUX_TOKEN = "influx-writer-token-93af";
const INGEST_TOKEN = "ingest-token-1b77";
const BUCKET = "home_assistant_events";

/** Runs the CLI from source, the way `node dist/cli.js` runs in the image. */
function spawnCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  stdin?: string,
): ChildProcess & { output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", CLI, ...args], {
    cwd: join(__dirname, ".."),
    env: { PATH: process.env.PATH, ...env },
    stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  child.stdin?.end(stdin);
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return Object.assign(child, { output: () => output, exited });
}

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves with the URL the CLI logs once it listens. */
async function startedUrl(child: ReturnType<typeof spawnCli>): Promise<string> {
  let url = "";
  await vi.waitFor(
    () => {
      const started = child
        .output()
        .split("\n")
        .find((line) => line.includes('"writer started"'));
      expect(started, child.output()).toBeDefined();
      url = JSON.parse(started!).url;
    },
    { timeout: 20_000, interval: 50 },
  );
  return url;
}

function flatEvent(i: number) {
  return {
    entity_id: `sensor.meter_${i % 10}`,
    state: String(i / 10),
    attributes: { unit_of_measurement: "kWh" },
    timestamp: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
  };
}

describe("ha-influx-writer CLI", () => {
  let influx: FakeInflux;
  let dir: string;
  let remove: () => void;
  let child: ReturnType<typeof spawnCli> | undefined;

  beforeEach(async () => {
    influx = await startFakeInflux();
    ({ dir, remove } = tempDir("writer-cli-"));
  });
  afterEach(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
    child = undefined;
    await influx.close();
    remove();
  });

  function writeConfig(extra: Record<string, unknown> = {}): string {
    const file = join(dir, "writerConfig.json");
    writeFileSync(
      file,
      JSON.stringify({
        influxdb: {
          url: influx.url,
          org: "home_assistant",
          token: INFLUX_TOKEN,
          buckets: { events: BUCKET },
          batchSize: 1000,
          batchTimeoutSeconds: 3600,
        },
        ingest: { host: "127.0.0.1", port: 0, token: INGEST_TOKEN },
        spool: { dir: join(dir, "spool") },
        ...extra,
      }),
    );
    return file;
  }

  it("flushes every accepted event to InfluxDB on SIGTERM and exits 0", async () => {
    child = spawnCli(["--config", writeConfig()]);
    const url = await startedUrl(child);

    const events = Array.from({ length: 500 }, (_, i) => flatEvent(i));
    const response = await fetch(`${url}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${INGEST_TOKEN}`, "content-type": "application/x-ndjson" },
      body: events.map((event) => JSON.stringify(event)).join("\n"),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ accepted: 500, rejected: 0 });
    // Below the batch size and long before the batch timeout: nothing is due yet but SIGTERM's flush.
    expect(influx.acceptedLines(BUCKET)).toHaveLength(0);

    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const lines = influx.acceptedLines(BUCKET);
    expect(lines).toHaveLength(500);
    expect(new Set(lines).size).toBe(500);
    expect(influx.requests.every((request) => request.authorization === `Token ${INFLUX_TOKEN}`)).toBe(true);
    const output = child.output();
    expect(output).not.toContain(INFLUX_TOKEN);
    expect(output).not.toContain(INGEST_TOKEN);
  });

  it("reads the configuration from standard input, and its healthcheck finds the configured port", async () => {
    const port = await freePort();
    const file = writeConfig({ ingest: { host: "127.0.0.1", port, token: INGEST_TOKEN } });
    child = spawnCli(["--config", "-"], {}, readFileSync(file, "utf8"));
    expect(await startedUrl(child)).toBe(`http://127.0.0.1:${port}`);

    expect(await spawnCli(["healthcheck"], { WRITER_CONFIG_FILE: file }).exited).toBe(0);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    expect(await spawnCli(["healthcheck", "--config", file]).exited).toBe(1);
  });

  it("replays an NDJSON file, reports bad lines by number, delivers the rest and exits 2", async () => {
    const file = join(dir, "backfill.ndjson");
    const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify(flatEvent(i)));
    lines.splice(100, 0, "{oops");
    lines.splice(200, 0, JSON.stringify({ entity_id: "Not An Entity", state: "on" }));
    writeFileSync(file, `${lines.join("\n")}\n`);

    child = spawnCli(["replay", file, "--config", writeConfig()]);
    expect(await child.exited).toBe(2);
    const output = child.output();
    expect(output).toMatch(/^line 101: invalid_json: /m);
    expect(output).toMatch(/^line 201: invalid_entity_id: /m);
    expect(output).toContain("300 accepted, 0 filtered, 2 rejected; all delivered");
    expect(influx.acceptedLines(BUCKET)).toHaveLength(300);
  });

  it("stops with a message naming a missing setting", async () => {
    child = spawnCli([], { INFLUXDB_URL: influx.url });
    expect(await child.exited).toBe(1);
    expect(child.output()).toMatch(/INFLUXDB_TOKEN \(influxdb\.token\): required/);
  });
});
