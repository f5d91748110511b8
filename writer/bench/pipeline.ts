/**
 * Throughput benchmark: the writer's full pipeline against the baseline approach
 * (one `@influxdata/influxdb-client` `Point` per event, `writeApi` defaults), in one run, on the same
 * sink. The sink runs in its own process; each pipeline runs in its own process too, so that peak RSS
 * and CPU time belong to that pipeline alone. Where `taskset` exists, each pipeline is pinned to one
 * core (with its libuv threads: gzip included) and the sink to another.
 *
 * Run: `npm run bench --workspace writer`. BENCH_EVENTS=<n> sets the event count (default 300,000);
 * BENCH_PROFILE=<dir> writes a CPU profile of each measured run (not of the input generation) there.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { InfluxDB, Point } from "@influxdata/influxdb-client";
import { resolveConfig } from "../src/config";
import { createLogger } from "../src/logger";
import { createMetrics } from "../src/metrics";
import { createPipeline } from "../src/pipeline";
import { generateChunks } from "./events";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 300_000);
/** Events per input chunk: what one ingest request or replay read would carry. */
const CHUNK = 1000;
/** Chunks submitted before waiting for the oldest to be durable, as concurrent ingest clients would. */
const SUBMITS_IN_FLIGHT = 4;
const BUCKET = "home_assistant_events";
const ORG = "home_assistant";
const TOKEN = "bench-token";

/** `parse` only parses the input: the floor both pipelines stand on, printed for scale. */
const KINDS = ["ours", "baseline", "parse"] as const;
type Kind = (typeof KINDS)[number];
const LABELS: Record<Kind, string> = {
  ours: "ha-influx writer",
  baseline: "client Point + writeApi",
  parse: "JSON.parse only (floor)",
};

interface Measurement {
  kind: Kind;
  events: number;
  /** Lines the pipeline reported writing to the events bucket, and lines the sink counted there. */
  expectedLines: number;
  sinkLines: number;
  seconds: number;
  cpuMicros: number;
  peakRssBytes: number;
  inputBytes: number;
}

async function sinkCount(sinkUrl: string): Promise<number> {
  const response = await fetch(`${sinkUrl}/count?bucket=${BUCKET}`);
  return ((await response.json()) as { lines: number }).lines;
}

/** Polls the sink until it has `expected` lines: a write counts when the sink has it, not when a client says so. */
async function waitForSink(sinkUrl: string, expected: number, deadlineMs = 120_000): Promise<number> {
  const until = Date.now() + deadlineMs;
  let lines = await sinkCount(sinkUrl);
  while (lines < expected && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    lines = await sinkCount(sinkUrl);
  }
  return lines;
}

/** Our pipeline: parse JSON, validate, map, spool, batch, gzip, HTTP write. Resolves with the lines expected in the events bucket. */
async function runOurs(chunks: string[], sinkUrl: string, spoolDir: string): Promise<number> {
  const config = resolveConfig(
    {
      influxdb: { url: sinkUrl, org: ORG, token: TOKEN, buckets: { events: BUCKET } },
      spool: { dir: spoolDir },
      logLevel: "warn",
    },
    {},
  );
  const logger = createLogger({ level: "warn", format: "json", secrets: [TOKEN] });
  const pipeline = createPipeline(config, { logger, metrics: createMetrics({ processMetrics: false }) });
  await pipeline.start();
  let accepted = 0;
  const inFlight: Promise<void>[] = [];
  for (const chunk of chunks) {
    const events = chunk.split("\n").map((line) => JSON.parse(line) as unknown);
    inFlight.push(
      pipeline.submit(events, "bench").then((results) => {
        for (const result of results) if (result.status === "accepted") accepted += 1;
      }),
    );
    if (inFlight.length >= SUBMITS_IN_FLIGHT) await inFlight.shift();
  }
  await Promise.all(inFlight);
  await pipeline.flush(120_000);
  await pipeline.stop(10_000);
  return accepted;
}

interface BaselineEvent {
  entity_id?: string;
  state?: string;
  attributes?: Record<string, unknown>;
  timestamp?: string;
  weather?: { temperature?: number; humidity?: number; pressure?: number; condition?: string };
  new_state?: { state: string; attributes?: Record<string, unknown>; last_updated?: string };
  old_state?: { state: string } | null;
}

/** The baseline approach: one client `Point` per event, written with `writeApi` defaults. */
function baselinePoint(event: BaselineEvent): Point | undefined {
  if (typeof event.entity_id !== "string") return undefined;
  const state = event.new_state ? event.new_state.state : event.state;
  const attributes = (event.new_state ? event.new_state.attributes : event.attributes) ?? {};
  const timestamp = event.new_state ? event.new_state.last_updated : event.timestamp;
  const point = new Point(BUCKET).tag("entity_id", event.entity_id).tag("domain", event.entity_id.split(".")[0]);
  if (attributes.device_class) point.tag("device_class", String(attributes.device_class));
  if (attributes.friendly_name) point.tag("device_name", String(attributes.friendly_name));
  if (event.weather?.condition) point.tag("weather_condition", event.weather.condition);
  point.stringField("state_value", String(state));
  const numeric = Number(state);
  if (state !== "" && Number.isFinite(numeric)) point.floatField("normalized_value", numeric);
  if (attributes.unit_of_measurement) point.stringField("unit_of_measurement", String(attributes.unit_of_measurement));
  if (event.old_state) point.stringField("previous_state", event.old_state.state);
  if (event.weather?.temperature !== undefined) point.floatField("weather_temp", event.weather.temperature);
  if (event.weather?.humidity !== undefined) point.floatField("weather_humidity", event.weather.humidity);
  if (event.weather?.pressure !== undefined) point.floatField("weather_pressure", event.weather.pressure);
  if (timestamp) point.timestamp(new Date(timestamp));
  return point;
}

async function runBaseline(chunks: string[], sinkUrl: string): Promise<number> {
  const writeApi = new InfluxDB({ url: sinkUrl, token: TOKEN }).getWriteApi(ORG, BUCKET);
  let written = 0;
  for (const chunk of chunks) {
    for (const line of chunk.split("\n")) {
      const point = baselinePoint(JSON.parse(line) as BaselineEvent);
      if (point) {
        writeApi.writePoint(point);
        written += 1;
      }
    }
    // Let the client's HTTP requests progress, as they would between incoming events.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await writeApi.close();
  return written;
}

/** Parses the input as both pipelines do and nothing else; writes no lines. */
async function parseOnly(chunks: string[]): Promise<number> {
  for (const chunk of chunks) for (const line of chunk.split("\n")) JSON.parse(line);
  return 0;
}

/** One pipeline, in this (child) process: warm up, reset the sink, measure, report to the parent. */
async function worker(kind: Kind, sinkUrl: string): Promise<void> {
  const spoolDir = mkdtempSync(join(tmpdir(), "ha-influx-bench-"));
  try {
    const warmup = generateChunks(Math.min(20_000, EVENTS), CHUNK, 7);
    const run = (input: string[], spool: string) =>
      kind === "ours"
        ? runOurs(input, sinkUrl, spool)
        : kind === "baseline"
          ? runBaseline(input, sinkUrl)
          : parseOnly(input);
    const warmupLines = await run(warmup, join(spoolDir, "warmup"));
    await waitForSink(sinkUrl, warmupLines);
    const chunks = generateChunks(EVENTS, CHUNK);
    const inputBytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    await fetch(`${sinkUrl}/reset`, { method: "POST" });

    const profiler = process.env.BENCH_PROFILE ? await startProfiler() : undefined;
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    const expectedLines = await run(chunks, join(spoolDir, "run"));
    const sinkLines = await waitForSink(sinkUrl, expectedLines);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    if (profiler) await saveProfile(profiler, join(process.env.BENCH_PROFILE!, `${kind}.cpuprofile`));
    const measurement: Measurement = {
      kind,
      events: EVENTS,
      expectedLines,
      sinkLines,
      seconds,
      cpuMicros: cpu.user + cpu.system,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      inputBytes,
    };
    process.send?.(measurement);
  } finally {
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

async function startProfiler(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return session;
}

async function saveProfile(session: Session, file: string): Promise<void> {
  const { profile } = await session.post("Profiler.stop");
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, JSON.stringify(profile));
  session.disconnect();
}

function start(args: string[], core: number | undefined): ChildProcess {
  const command = core === undefined ? process.execPath : "taskset";
  const argv = core === undefined ? [__filename, ...args] : ["-c", String(core), process.execPath, __filename, ...args];
  return spawn(command, argv, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

function once<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once("message", (message) => resolve(message as T));
    child.once("exit", (code) =>
      reject(new Error(`${child.spawnargs.join(" ")} exited with ${code} before reporting`)),
    );
  });
}

async function main(): Promise<void> {
  const pin = existsSync("/usr/bin/taskset") && cpus().length >= 2;
  const sink = start(["sink"], pin ? 1 : undefined);
  const { port } = await once<{ port: number }>(sink);
  const sinkUrl = `http://127.0.0.1:${port}`;
  const results: Measurement[] = [];
  try {
    for (const kind of KINDS) {
      const child = start([kind, sinkUrl], pin ? 0 : undefined);
      results.push(await once<Measurement>(child));
      await new Promise((resolve) => child.once("exit", resolve));
    }
  } finally {
    sink.kill();
  }
  print(results, pin);
}

function print(results: Measurement[], pinned: boolean): void {
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
  const rows = results.map((r) => ({
    pipeline: LABELS[r.kind],
    events: r.events,
    "events/s": Math.round(r.events / r.seconds),
    "CPU µs/event": Number((r.cpuMicros / r.events).toFixed(2)),
    "events/CPU-s": Math.round((r.events * 1e6) / r.cpuMicros),
    "peak RSS MB": Number(mb(r.peakRssBytes)),
    "sink lines": r.kind === "parse" ? "-" : `${r.sinkLines}/${r.expectedLines}`,
    complete: r.sinkLines === r.expectedLines ? "yes" : "NO",
  }));
  console.log(
    `node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"}; ${pinned ? "each pipeline pinned to core 0, sink to core 1" : "not pinned (no taskset)"}`,
  );
  console.log(
    `input: ${results[0]?.events} events, ${mb(results[0]?.inputBytes ?? 0)} MB of NDJSON held in memory by each pipeline process`,
  );
  console.table(rows);
  const [ours, baseline] = results;
  if (ours && baseline) {
    const ratio = ours.events / ours.seconds / (baseline.events / baseline.seconds);
    const cpuRatio = baseline.cpuMicros / ours.cpuMicros;
    // events/CPU-s is what one dedicated core would sustain; it is the steadier figure on a shared machine.
    console.log(
      `ha-influx writer / baseline: ${ratio.toFixed(2)}x events/s, ${cpuRatio.toFixed(2)}x events per CPU-second`,
    );
  }
  if (results.some((r) => r.sinkLines !== r.expectedLines)) process.exitCode = 1;
}

const [role, sinkUrl] = process.argv.slice(2);
if (role === "sink") require("./sink");
else if (KINDS.includes(role as Kind))
  void worker(role as Kind, sinkUrl!).catch((error) => {
    console.error(error);
    process.exit(1);
  });
else void main();
