// `ha-influx-writer import` as a process against a real influxd: a real SIGINT or SIGTERM in the
// middle of an import stops it cleanly (exit 130, one line naming the checkpoint, every row it read
// delivered or waiting in the import spool, nothing past the checkpoint), a second signal exits at
// once, and rerunning the same command gives exactly the points of an uninterrupted import, every
// state once. The child runs the compiled writer (built once for this file), the way
// `node dist/cli.js` runs in the image.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRecorder, type RecordedState, writeRegistries } from "../../writer/test/import-recorder";
import { parseCsv } from "../harness/csv";
import { locateInfluxd } from "../harness/influxd";
import { useInfluxd } from "../harness/vitest";

const influxdFound = locateInfluxd() !== undefined;
const writerDir = join(__dirname, "..", "..", "writer");
/** Eight batches of the import's 5,000 rows: the signal comes after the first one is checkpointed. */
const STATES = 40_000;
const ENTITIES = 20;
const BASE_MS = Date.UTC(2024, 2, 1);
const WHOLE = "imported_whole";
const OTHER_BUCKETS = ["weather_data", "system_metrics", "sports_data"];
/** Columns Flux adds that are not part of a point. */
const NOT_POINT = new Set(["", "result", "table", "_measurement"]);

/** Power sensors and switches, one state every 10 ms in turn (state ids follow time order). */
function recordedStates(): RecordedState[] {
  return Array.from({ length: STATES }, (_, i) => {
    const n = i % ENTITIES;
    const round = Math.floor(i / ENTITIES);
    const updated = new Date(BASE_MS + i * 10).toISOString().replace("Z", "123+00:00");
    return n < ENTITIES / 2
      ? {
          entityId: `sensor.power_${n}`,
          state: `${(round * 37 + n) % 2000}.5`,
          updated,
          attributes: { unit_of_measurement: "W", device_class: "power", friendly_name: `Power ${n}` },
        }
      : {
          entityId: `switch.plug_${n}`,
          state: round % 2 === 0 ? "on" : "off",
          updated,
          attributes: { friendly_name: `Plug ${n}` },
        };
  });
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe.skipIf(!influxdFound)("ha-influx-writer import interrupted by a signal, against a real influxd", () => {
  const server = useInfluxd({ org: "home_assistant", bucket: "home_assistant_events" });
  let dir: string;
  let build: string;
  let configDir: string;
  let whole: Map<string, string>;
  const running = new Set<ChildProcess>();

  async function api(path: string, body: string, contentType = "application/json"): Promise<Response> {
    return fetch(`${server().url}${path}`, {
      method: "POST",
      headers: { Authorization: `Token ${server().token}`, "Content-Type": contentType, Accept: "application/csv" },
      body,
    });
  }

  async function createBucket(name: string): Promise<void> {
    const response = await api("/api/v2/buckets", JSON.stringify({ name, orgID: server().orgId, retentionRules: [] }));
    expect(response.status).toBe(201);
  }

  async function query(flux: string): Promise<Record<string, string>[]> {
    const response = await api("/api/v2/query?org=home_assistant", flux, "application/vnd.flux");
    expect(response.status).toBe(200);
    return parseCsv(await response.text());
  }

  /** Points with a `state_value` in `bucket`. */
  async function count(bucket: string): Promise<number> {
    const rows = await query(
      `from(bucket: "${bucket}") |> range(start: 0) |> filter(fn: (r) => r._field == "state_value") |> group() |> count()`,
    );
    return rows.length === 0 ? 0 : Number(rows[0]!._value);
  }

  /** Every point of `bucket` (its tags and fields as JSON), keyed `entity_id|time`; throws on a key seen twice. */
  async function pointsOf(bucket: string): Promise<Map<string, string>> {
    const rows = await query(
      `from(bucket: "${bucket}") |> range(start: 0) |> drop(columns: ["_start", "_stop"])` +
        ` |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value") |> group()`,
    );
    const points = new Map<string, string>();
    for (const row of rows) {
      const key = `${row.entity_id}|${row._time}`;
      if (points.has(key)) throw new Error(`${bucket}: two points for ${key}`);
      const point = Object.entries(row).filter(([column, value]) => !NOT_POINT.has(column) && value !== "");
      points.set(key, JSON.stringify(Object.fromEntries(point.sort(([a], [b]) => a.localeCompare(b)))));
    }
    return points;
  }

  /** A writerConfig for an import into `bucket` with its own spool. */
  function configFor(bucket: string): string {
    const file = join(dir, `${bucket}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        influxdb: {
          url: server().url,
          org: "home_assistant",
          token: server().token,
          batchTimeoutSeconds: 0.2,
          buckets: { events: bucket },
        },
        spool: { dir: join(dir, `${bucket}-spool`) },
        logLevel: "warn",
        statsIntervalSeconds: 3600,
      }),
    );
    return file;
  }

  /** `ha-influx-writer import <configDir> --config <file> --json` from the compiled writer. */
  function runImport(configFile: string): Run {
    const child = spawn(
      process.execPath,
      [join(build, "cli.js"), "import", configDir, "--config", configFile, "--json"],
      {
        env: {
          PATH: process.env.PATH ?? "",
          // The compiled files live outside the package: point them at its dependencies.
          NODE_PATH: [join(writerDir, "node_modules"), join(writerDir, "..", "node_modules")].join(":"),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    running.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      }),
    );
    return { child, stdout: () => stdout, stderr: () => stderr, exited };
  }

  /** Rows the last progress line of `run` reports as done. */
  function progressRows(run: Run): number {
    const done = [...run.stderr().matchAll(/^import [\d.]+% (\d+)\/\d+ rows/gm)].map((match) => Number(match[1]));
    return done.at(-1) ?? 0;
  }

  async function until(run: Run, predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (run.child.exitCode !== null || run.child.signalCode !== null)
        throw new Error(`the import exited before ${what}:\n${run.stderr()}`);
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}:\n${run.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ha-influx-import-signal-"));
    // Laid out as the package is (`dist/` beside `package.json`, which the writer reads its version from).
    mkdirSync(join(dir, "writer"));
    copyFileSync(join(writerDir, "package.json"), join(dir, "writer", "package.json"));
    build = join(dir, "writer", "dist");
    execFileSync(
      process.execPath,
      [require.resolve("typescript/bin/tsc"), "-p", join(writerDir, "tsconfig.build.json"), "--outDir", build],
      { stdio: "pipe" },
    );
    configDir = join(dir, "config");
    mkdirSync(configDir);
    createRecorder(join(configDir, "home-assistant_v2.db"), recordedStates());
    writeRegistries(configDir, {
      areas: [{ id: "kitchen", name: "Kitchen", aliases: [], picture: null, floor_id: null }],
      devices: [{ id: "dev1", area_id: "kitchen", name: "Power Plug", name_by_user: null, manufacturer: "Acme" }],
      entities: [{ entity_id: "sensor.power_0", device_id: "dev1", area_id: null, platform: "mqtt", unique_id: "p0" }],
    });
    for (const name of [WHOLE, ...OTHER_BUCKETS]) await createBucket(name);

    const reference = runImport(configFor(WHOLE));
    expect({ exit: await reference.exited, stderr: reference.stderr() }).toEqual({
      exit: { code: 0, signal: null },
      stderr: expect.any(String),
    });
    expect(JSON.parse(reference.stdout())).toMatchObject({ rowsRead: STATES, accepted: STATES, delivered: true });
    whole = await pointsOf(WHOLE);
    expect(whole.size).toBe(STATES);
  }, 240_000);

  afterAll(() => {
    for (const child of running) child.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(["SIGINT", "SIGTERM"] as const)(
    "stops on %s with 130 and the checkpoint named, and a rerun completes it exactly",
    async (signal) => {
      const bucket = `imported_${signal.toLowerCase()}`;
      await createBucket(bucket);
      const configFile = configFor(bucket);

      const first = runImport(configFile);
      await until(first, () => progressRows(first) > 0, "the first progress line with rows");
      first.child.kill(signal);
      expect(await first.exited).toEqual({ code: 130, signal: null });
      const stderr = first.stderr();
      expect(stderr).toContain(`import: ${signal} received: stopping after the batches in flight`);
      const summary = JSON.parse(first.stdout());
      expect(summary).toMatchObject({ interrupted: true, signal, resumed: false, rowsToRead: STATES, rejected: 0 });
      expect(summary.rowsRead).toBeGreaterThan(0);
      expect(summary.rowsRead).toBeLessThan(STATES);
      expect(summary.accepted).toBe(summary.rowsRead);

      // The last line says where the checkpoint is, and the checkpoint is exactly there.
      const line = new RegExp(
        `^interrupted by ${signal} after (\\d+) of ${STATES} rows; checkpoint (\\S+) at state_id (\\d+) \\(last_updated (\\S+)\\); rerun the same command to continue$`,
      ).exec(stderr.trimEnd().split("\n").at(-1)!);
      expect(line, stderr).not.toBeNull();
      const [, rowsRead, checkpointFile, stateId, lastUpdated] = line!;
      expect(Number(rowsRead)).toBe(summary.rowsRead);
      expect(checkpointFile).toBe(join(dir, `${bucket}-spool-import`, "import-checkpoint.json"));
      // State ids follow time order here: the checkpoint stands at the last row read.
      expect(Number(stateId)).toBe(summary.rowsRead);
      expect(lastUpdated).toBe(recordedStates()[summary.rowsRead - 1]!.updated);
      expect(JSON.parse(readFileSync(checkpointFile, "utf8"))).toMatchObject({
        complete: false,
        position: { stateId: summary.rowsRead },
      });

      // Every row read is in InfluxDB or waits in the import spool; nothing past the checkpoint was written.
      const delivered = await count(bucket);
      expect(delivered).toBeLessThanOrEqual(summary.rowsRead);
      expect(delivered + summary.pendingPoints).toBeGreaterThanOrEqual(summary.rowsRead);

      const rerun = runImport(configFile);
      expect({ exit: await rerun.exited, stderr: rerun.stderr() }).toEqual({
        exit: { code: 0, signal: null },
        stderr: expect.not.stringContaining("interrupted"),
      });
      expect(JSON.parse(rerun.stdout())).toMatchObject({
        resumed: true,
        interrupted: false,
        rowsToRead: STATES - summary.rowsRead,
        rowsRead: STATES - summary.rowsRead,
        accepted: STATES - summary.rowsRead,
        delivered: true,
        pendingPoints: 0,
      });
      const resumed = await pointsOf(bucket);
      expect(resumed.size).toBe(STATES);
      const differing = [...whole].filter(([key, point]) => resumed.get(key) !== point).slice(0, 3);
      expect(differing).toEqual([]);
    },
    120_000,
  );

  it("exits 130 at once on a second signal, and the rerun is still exact", async () => {
    const bucket = "imported_twice";
    await createBucket(bucket);
    const configFile = configFor(bucket);
    const first = runImport(configFile);
    await until(first, () => progressRows(first) > 0, "the first progress line with rows");
    first.child.kill("SIGINT");
    // The clean stop takes the batches in flight and a wait for InfluxDB: time enough for the second one.
    await until(first, () => first.stderr().includes("import: SIGINT received"), "the first signal's line");
    first.child.kill("SIGINT");
    expect(await first.exited).toEqual({ code: 130, signal: null });
    expect(first.stderr().trimEnd().split("\n").at(-1)).toBe(
      `import: SIGINT again: exiting now; rerun the same command to continue after the checkpoint ${join(dir, `${bucket}-spool-import`, "import-checkpoint.json")}`,
    );
    expect(first.stdout()).toBe("");

    const rerun = runImport(configFile);
    expect({ exit: await rerun.exited, stderr: rerun.stderr() }).toEqual({
      exit: { code: 0, signal: null },
      stderr: expect.not.stringContaining("interrupted"),
    });
    expect(JSON.parse(rerun.stdout())).toMatchObject({ resumed: true, delivered: true, pendingPoints: 0 });
    const resumed = await pointsOf(bucket);
    expect(resumed.size).toBe(STATES);
    const differing = [...whole].filter(([key, point]) => resumed.get(key) !== point).slice(0, 3);
    expect(differing).toEqual([]);
  });
});
