import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/capacity";
import type { CapacityReport } from "../src/monitor/report";
import { type FakeInfluxApi, startFakeInfluxApi } from "./helpers/fakeInfluxApi";

async function run(args: string[], env: NodeJS.ProcessEnv = {}, stdin?: string) {
  let stdout = "";
  let stderr = "";
  const code = await main(args, env, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    stdin: stdin === undefined ? undefined : Readable.from([stdin]),
  });
  return { code, stdout, stderr };
}

/** A loopback URL nothing listens on: a port that was free a moment ago. */
let CLOSED = "";
beforeAll(async () => {
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  CLOSED = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await new Promise((resolve) => server.close(resolve));
});

describe("ha-influx-capacity user errors: one line, exit 1", () => {
  it.each([
    {
      name: "no token",
      args: ["--url", "CLOSED"],
      line: "ha-influx-capacity: --token (INFLUXDB_MONITOR_TOKEN, monitor.token): required",
    },
    {
      name: "no URL",
      args: ["--token", "t"],
      line: "ha-influx-capacity: --url (INFLUXDB_URL, influxdb.url): required",
    },
    {
      name: "a URL that is not http",
      args: ["--url", "ftp://x", "--token", "t"],
      line: "ha-influx-capacity: --url (INFLUXDB_URL, influxdb.url): must be an http(s) URL",
    },
    {
      name: "an unknown format",
      args: ["--url", "CLOSED", "--token", "t", "--format", "png"],
      line: /^ha-influx-capacity: --format \(table, json or svg\): Invalid option/,
    },
    {
      name: "a capacity that is not a number",
      args: ["--capacity-gb", "lots"],
      line: 'ha-influx-capacity: --capacity-gb must be a number, got "lots"',
    },
    {
      name: "an unknown option",
      args: ["--colour"],
      line: /^ha-influx-capacity: Unknown option '--colour'.*\(--help lists the options\)$/,
    },
    {
      name: "a config file that is not there",
      args: ["--config", "/nonexistent/writerConfig.json"],
      line: "ha-influx-capacity: config /nonexistent/writerConfig.json: cannot be read (ENOENT)",
    },
    {
      name: "a server that does not answer",
      args: ["--url", "CLOSED", "--token", "t"],
      line: "ha-influx-capacity: GET /api/v2/buckets: server unreachable (ECONNREFUSED)",
    },
  ])("$name", async ({ args, line }) => {
    const { code, stdout, stderr } = await run(args.map((arg) => (arg === "CLOSED" ? CLOSED : arg)));
    expect(code).toBe(1);
    expect(stdout).toBe("");
    const last = stderr.trimEnd().split("\n").pop()!;
    if (typeof line === "string") expect(last).toBe(line);
    else expect(last).toMatch(line);
  });

  it("reads the stack's writerConfig from standard input; the environment wins over it, flags over both", async () => {
    const writerConfig = () =>
      JSON.stringify({
        influxdb: { url: CLOSED, token: "writer-token", org: "o" },
        monitor: { token: "monitor-token" },
      });
    const fromFile = await run(["--config", "-"], {}, writerConfig());
    expect(fromFile.stderr).toContain(`sampling ${CLOSED} (org o)`);
    const fromEnv = await run(["--config", "-"], { INFLUXDB_ORG: "env-org" }, writerConfig());
    expect(fromEnv.stderr).toContain(`sampling ${CLOSED} (org env-org)`);
    const fromFlags = await run(["--config", "-", "--org", "flag-org"], { INFLUXDB_ORG: "env-org" }, writerConfig());
    expect(fromFlags.stderr).toContain(`sampling ${CLOSED} (org flag-org)`);
    for (const r of [fromFile, fromEnv, fromFlags]) {
      expect(r.code).toBe(1);
      expect(r.stderr).not.toContain("monitor-token");
    }
  });

  it("prints its usage with --help", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: ha-influx-capacity/);
  });
});

describe("ha-influx-capacity's disk: --capacity-gb and the config file's data directory", () => {
  let influx: FakeInfluxApi;
  const disk = mkdtempSync(join(tmpdir(), "ha-influx-capacity-"));
  beforeAll(async () => {
    influx = await startFakeInfluxApi({
      "/api/v2/buckets": {
        body: JSON.stringify({
          buckets: [{ id: "b1", name: "home_assistant_events", type: "user", retentionRules: [] }],
        }),
      },
      "/metrics": {
        body: '# TYPE storage_shard_disk_size gauge\nstorage_shard_disk_size{bucket="b1",id="1"} 5000\n',
      },
      "/api/v2/query": { body: "" },
      "/api/v2/tasks": { body: '{"tasks":[]}' },
    });
  });
  afterAll(async () => {
    await influx?.close();
    rmSync(disk, { recursive: true, force: true });
  });

  /** The report's disk, with the stack's writerConfig on standard input. */
  async function reportedDisk(dataDir: string, flags: string[] = []) {
    const writerConfig = JSON.stringify({
      influxdb: { url: influx.url, org: "o" },
      monitor: { token: "monitor-token", dataDir },
    });
    const { code, stdout, stderr } = await run(
      ["--config", "-", "--format", "json", "--top", "0", ...flags],
      {},
      writerConfig,
    );
    return { code, stderr, disk: code === 0 ? (JSON.parse(stdout) as CapacityReport).disk : undefined };
  }

  it("takes statfs of the file's data directory when no capacity is given", async () => {
    const { code, disk: reported } = await reportedDisk(disk);
    expect(code).toBe(0);
    expect(reported).toMatchObject({ source: "statfs" });
  });

  it("--capacity-gb wins over the file's data directory, which may be a path in the writer's container", async () => {
    const inContainer = join(disk, "not-on-this-machine");
    const { code, stderr, disk: reported } = await reportedDisk(inContainer, ["--capacity-gb", "2"]);
    expect(stderr).not.toContain("not-on-this-machine");
    expect(code).toBe(0);
    expect(reported).toMatchObject({ source: "configured", capacityBytes: 2e9, usedBytes: 5000 });
  });
});
