// Sustained throughput of the writer into a real influxd (DESIGN target: >= 50k events/s), influxd on
// one core and the writer on the other. Prints its figures; asserts nothing about speed.
//
//   npm run bench:influxd [-- --events 300000 --batch-size 5000]
//
// Needs `influxd` on PATH (`eval "$(scripts/install-tools.sh)"`).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { InfluxDB } from "@influxdata/influxdb-client";
import { startInfluxd } from "../test/harness/influxd";
import { generateChunks } from "../writer/bench/events";
import { startWriter } from "../writer/src/app";
import { resolveConfig } from "../writer/src/config";

const { values } = parseArgs({
  options: { events: { type: "string", default: "300000" }, "batch-size": { type: "string", default: "1000" } },
});
const eventCount = Number(values.events);
const batchSize = Number(values["batch-size"]);
const BUCKETS = {
  events: "home_assistant_events",
  weather: "weather_data",
  system: "system_metrics",
  sports: "sports_data",
};

/** Pins this process (and what it starts from now on) to one core. */
function pin(core: number): void {
  execFileSync("taskset", ["-cp", String(core), String(process.pid)], { stdio: "ignore" });
}

async function main(): Promise<void> {
  pin(1); // influxd inherits core 1 ...
  const influxd = await startInfluxd({ org: "home_assistant", bucket: "bench-bootstrap" });
  pin(0); // ... and the writer keeps core 0.
  const dir = mkdtempSync(join(tmpdir(), "ha-influx-bench-"));
  try {
    for (const name of Object.values(BUCKETS)) {
      // Infinite retention: the generated events are dated 2026-01-01 and must not age out.
      const res = await fetch(`${influxd.url}/api/v2/buckets`, {
        method: "POST",
        headers: { Authorization: `Token ${influxd.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ orgID: influxd.orgId, name, retentionRules: [] }),
      });
      if (!res.ok) throw new Error(`creating bucket ${name}: ${res.status} ${await res.text()}`);
    }
    const chunks = generateChunks(eventCount, 1000).map((chunk) => chunk.split("\n"));
    const writer = await startWriter(
      resolveConfig(
        {
          influxdb: { url: influxd.url, org: "home_assistant", token: influxd.token, buckets: BUCKETS, batchSize },
          timeZone: "Europe/Berlin",
          logLevel: "warn",
          spool: { dir: join(dir, "spool") },
          ingest: { host: "127.0.0.1", port: 0 },
          statsIntervalSeconds: 3600,
        },
        {},
      ),
    );

    const cpuStart = process.cpuUsage();
    const start = performance.now();
    let accepted = 0;
    for (const lines of chunks) {
      const results = await writer.pipeline.submit(
        lines.map((line) => JSON.parse(line) as unknown),
        "bench",
      );
      accepted += results.filter((r) => r.status === "accepted").length;
    }
    const flushed = await writer.stop(600_000);
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuStart);

    const [row] = await new InfluxDB({ url: influxd.url, token: influxd.token })
      .getQueryApi("home_assistant")
      .collectRows<{ _value: number }>(
        `from(bucket: "${BUCKETS.events}") |> range(start: 2025-12-31T00:00:00Z, stop: 2026-01-02T00:00:00Z)
           |> filter(fn: (r) => r._field == "state_value") |> group() |> count()`,
      );
    const stored = row?._value ?? 0;
    console.log(`node ${process.version}; writer pinned to core 0, influxd to core 1; batch size ${batchSize}`);
    console.table([
      {
        events: eventCount,
        accepted,
        "stored in influxd": stored,
        drained: flushed.drained,
        seconds: Number(seconds.toFixed(2)),
        "events/s": Math.round(accepted / seconds),
        "writer CPU µs/event": Number(((cpu.user + cpu.system) / accepted).toFixed(2)),
        "peak RSS MB": Math.round(process.resourceUsage().maxRSS / 1024),
      },
    ]);
    if (stored !== accepted || !flushed.drained) {
      process.exitCode = 1;
      console.error(`incomplete: ${accepted} accepted, ${stored} stored`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await influxd.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
