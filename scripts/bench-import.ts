// The recorder import into a real influxd, side by side with influxd's own ingest limit for the same
// points (issue target: the import within 1.5x of that limit). Prints its figures; asserts nothing.
//
//   npm run bench:import [-- --states 5000000 --entities 200]
//
// 1. Generates a recorder database with the real schema-42 DDL (taken from a database Home Assistant
//    2024.3.3 created: writer/test/fixtures/recorder-schema-42.sql), filled as the recorder fills it.
// 2. Captures the exact write requests the import sends (gzip bodies, the writer's batches) on a local
//    HTTP server: the "ready line protocol" of the same points.
// 3. Baseline: POSTs those bodies to influxd's /api/v2/write one after another (the server's limit for
//    one writer); then the import itself (read, map, spool, deliver), each into a fresh influxd.
// influxd is pinned to core 1, this process to core 0, as in bench-influxd.ts.
// Needs `influxd` on PATH (`eval "$(scripts/install-tools.sh)"`).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { type InfluxdInstance, startInfluxd } from "../test/harness/influxd";
import { resolveConfig, type WriterConfig } from "../writer/src/config";
import { importStates } from "../writer/src/import/importer";
import { RecorderDatabase } from "../writer/src/import/recorder";
import { createLogger } from "../writer/src/logger";
import { createMetrics } from "../writer/src/metrics";
import { createPipeline } from "../writer/src/pipeline";
import { Registries } from "../writer/src/sources/haRegistries";

const { values } = parseArgs({
  options: {
    states: { type: "string", default: "5000000" },
    entities: { type: "string", default: "200" },
    "batch-size": { type: "string", default: "5000" },
  },
});
const STATES = Number(values.states);
const ENTITIES = Number(values.entities);
const BATCH = Number(values["batch-size"]);
const SCHEMA = readFileSync(join(__dirname, "..", "writer", "test", "fixtures", "recorder-schema-42.sql"), "utf8");

function pin(core: number): void {
  execFileSync("taskset", ["-cp", String(core), String(process.pid)], { stdio: "ignore" });
}

/** States of `ENTITIES` sensors and switches, one every few seconds from 2024-01-01, in time order. */
function generate(path: string): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF");
  db.exec(SCHEMA);
  db.prepare("INSERT INTO schema_changes (schema_version, changed) VALUES (42, '2024-01-01 00:00:00')").run();
  const meta = db.prepare("INSERT INTO states_meta (entity_id) VALUES (?)");
  const attrs = db.prepare("INSERT INTO state_attributes (hash, shared_attrs) VALUES (?, ?)");
  for (let e = 0; e < ENTITIES; e++) {
    const sensor = e % 4 !== 0;
    meta.run(sensor ? `sensor.bench_${e}` : `switch.bench_${e}`);
    attrs.run(
      e,
      JSON.stringify(
        sensor
          ? { unit_of_measurement: "W", device_class: "power", state_class: "measurement", friendly_name: `Bench ${e}` }
          : { friendly_name: `Bench ${e}` },
      ),
    );
  }
  const insert = db.prepare(
    "INSERT INTO states (state, last_updated_ts, last_changed_ts, old_state_id, attributes_id, origin_idx, metadata_id) VALUES (?, ?, NULL, ?, ?, 0, ?)",
  );
  const last = new Array<number | null>(ENTITIES).fill(null);
  const t0 = Date.parse("2024-01-01T00:00:00Z") / 1000;
  db.exec("BEGIN");
  for (let i = 0; i < STATES; i++) {
    const e = i % ENTITIES;
    const state =
      e % 4 !== 0 ? (100 + ((i * 7919) % 5000) / 10).toFixed(1) : i % (ENTITIES * 2) < ENTITIES ? "on" : "off";
    const id = Number(insert.run(state, t0 + i * 0.05 + 0.000001 * e, last[e], e + 1, e + 1).lastInsertRowid);
    last[e] = id;
    if (i % 200_000 === 199_999) {
      db.exec("COMMIT");
      db.exec("BEGIN");
    }
  }
  db.exec("COMMIT");
  db.close();
}

function config(url: string, token: string, events: string, spoolDir: string): WriterConfig {
  return resolveConfig(
    {
      influxdb: { url, org: "home_assistant", token, batchSize: BATCH, buckets: { events } },
      timeZone: "Europe/Berlin",
      logLevel: "warn",
      spool: { dir: spoolDir, maxBytes: 8 * 1024 * 1024 * 1024 },
      statsIntervalSeconds: 3600,
    },
    {},
  );
}

/** Imports the database through the writer's pipeline into `url`; seconds until everything is acknowledged. */
async function runImport(
  dbPath: string,
  cfg: WriterConfig,
): Promise<{ seconds: number; spooledSeconds: number; accepted: number; cpuUs: number }> {
  const pipeline = createPipeline(cfg, {
    logger: createLogger({ level: "warn", format: "json" }),
    metrics: createMetrics({ processMetrics: false }),
  });
  await pipeline.start();
  const db = RecorderDatabase.open(dbPath);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const summary = await importStates({
    db,
    registries: new Registries(),
    selection: {},
    filters: cfg.filters,
    sink: pipeline,
    checkpointDir: cfg.spool.dir,
  });
  // Read, mapped and durable in the spool; the rest of the time is delivery catching up.
  const spooledSeconds = (performance.now() - started) / 1000;
  const result = await pipeline.stop(600_000);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  db.close();
  if (!result.drained) throw new Error(`import not drained: ${result.pendingEvents} pending`);
  return { seconds, spooledSeconds, accepted: summary.accepted, cpuUs: used.user + used.system };
}

async function count(influxd: InfluxdInstance, bucket: string): Promise<number> {
  const response = await fetch(`${influxd.url}/api/v2/query?org=home_assistant`, {
    method: "POST",
    headers: {
      Authorization: `Token ${influxd.token}`,
      "Content-Type": "application/vnd.flux",
      Accept: "application/csv",
    },
    body: `from(bucket: "${bucket}") |> range(start: 2023-12-31T00:00:00Z, stop: 2025-01-01T00:00:00Z) |> filter(fn: (r) => r._field == "state_value") |> group() |> count()`,
  });
  const text = await response.text();
  const line = text.trim().split("\n")[1] ?? "";
  return Number(line.split(",").at(-1) ?? 0);
}

const EVENTS = "home_assistant_events";

/** Runs `body` against a fresh influxd (pinned to core 1) with the writer's buckets. */
async function withInfluxd<T>(body: (influxd: InfluxdInstance) => Promise<T>): Promise<T> {
  pin(1);
  const influxd = await startInfluxd({ org: "home_assistant", bucket: "bootstrap" });
  pin(0);
  try {
    for (const name of [EVENTS, "weather_data", "system_metrics", "sports_data"]) {
      const res = await fetch(`${influxd.url}/api/v2/buckets`, {
        method: "POST",
        headers: { Authorization: `Token ${influxd.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ orgID: influxd.orgId, name, retentionRules: [] }),
      });
      if (!res.ok) throw new Error(`creating bucket ${name}: ${res.status} ${await res.text()}`);
    }
    return await body(influxd);
  } finally {
    await influxd.stop();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ha-influx-bench-import-"));
  const dbPath = join(dir, "home-assistant_v2.db");
  try {
    const started = performance.now();
    generate(dbPath);
    console.log(
      `generated ${STATES} states of ${ENTITIES} entities in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    // The write requests the import sends, captured as they are (gzip bodies).
    const bodies: { body: Buffer; encoding: string | undefined }[] = [];
    const capture = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        if (req.url?.startsWith("/api/v2/write"))
          bodies.push({ body: Buffer.concat(chunks), encoding: req.headers["content-encoding"] });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => capture.listen(0, "127.0.0.1", resolve));
    const captureUrl = `http://127.0.0.1:${(capture.address() as AddressInfo).port}`;
    await runImport(dbPath, config(captureUrl, "capture-token", "capture", join(dir, "capture-spool")));
    capture.close();

    // A fresh influxd per run: the compactions of one run's data must not slow the other down.
    const baseline = await withInfluxd(async (influxd) => {
      const begun = performance.now();
      for (const { body, encoding } of bodies) {
        const res = await fetch(`${influxd.url}/api/v2/write?org=home_assistant&bucket=${EVENTS}&precision=us`, {
          method: "POST",
          headers: {
            Authorization: `Token ${influxd.token}`,
            "Content-Type": "text/plain; charset=utf-8",
            ...(encoding ? { "Content-Encoding": encoding } : {}),
          },
          body: new Uint8Array(body),
        });
        if (res.status !== 204) throw new Error(`baseline write: ${res.status} ${await res.text()}`);
      }
      return { seconds: (performance.now() - begun) / 1000, stored: await count(influxd, EVENTS) };
    });
    const imported = await withInfluxd(async (influxd) => {
      const run = await runImport(dbPath, config(influxd.url, influxd.token, EVENTS, join(dir, "import-spool")));
      return { ...run, stored: await count(influxd, EVENTS) };
    });
    console.log(
      `node ${process.version}; import pinned to core 0, influxd to core 1; ${bodies.length} write requests of ${BATCH} points`,
    );
    console.table([
      {
        run: "influxd ingest of the ready line protocol",
        points: baseline.stored,
        seconds: Number(baseline.seconds.toFixed(1)),
        "points/s": Math.round(STATES / baseline.seconds),
      },
      {
        run: "import (read, map, spool, deliver)",
        points: imported.stored,
        seconds: Number(imported.seconds.toFixed(1)),
        "points/s": Math.round(imported.accepted / imported.seconds),
        "CPU µs/row": Number((imported.cpuUs / imported.accepted).toFixed(2)),
        "all spooled after s": Number(imported.spooledSeconds.toFixed(1)),
      },
    ]);
    console.log(
      `import / ingest limit: ${(imported.seconds / baseline.seconds).toFixed(2)}x the time (target <= 1.5x)`,
    );
    if (baseline.stored !== STATES || imported.stored !== STATES) {
      process.exitCode = 1;
      console.error(`incomplete: ${STATES} states, ${baseline.stored} in baseline, ${imported.stored} imported`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
