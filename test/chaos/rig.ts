/**
 * The chaos suite's rig: a real influxd that can be frozen (SIGSTOP), killed and restarted on its own
 * data, the built writer CLI as a child process that can be killed and restarted on its spool, an
 * ingest client that counts what the writer acknowledged (200 answers) event by event, and a query of
 * what InfluxDB stored. Scenarios (`*.chaos.ts`) build on it; more can be added beside them.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findInfluxd, inCi, randomSecret } from "../harness/influxd";

export const WRITER_DIR = join(__dirname, "..", "..", "writer");
const ORG = "home_assistant";
const BUCKET = "home_assistant_events";
const BASE_MS = Date.UTC(2026, 0, 1);

/** The influxd binary, or undefined outside CI (where the suite is then skipped with a warning). */
export function chaosInfluxd(): string | undefined {
  const binary = findInfluxd();
  if (binary === undefined && inCi())
    throw new Error("influxd is not on PATH: the chaos suite needs a real InfluxDB (CI is set, so this fails)");
  if (binary === undefined)
    console.warn("\n*** SKIPPED: influxd is not on PATH; the chaos suite needs a real InfluxDB\n");
  return binary;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Peak resident memory of a live process in MB (Linux `VmHWM`). */
export function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : 0;
}

/** Resident memory of a live process now, in MB (Linux `VmRSS`). */
export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : 0;
}

/** A restartable influxd on one data directory and port. */
export class ChaosInfluxd {
  readonly dir = mkdtempSync(join(tmpdir(), "ha-influx-chaos-influxd-"));
  readonly token = randomSecret();
  url = "";
  private child: ChildProcess | undefined;

  constructor(private readonly binary: string) {}

  async start(): Promise<void> {
    if (this.url === "") this.url = `http://127.0.0.1:${await freePort()}`;
    const port = new URL(this.url).port;
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("INFLUXD_")));
    this.child = spawn(
      this.binary,
      [
        "--bolt-path",
        join(this.dir, "b.bolt"),
        "--engine-path",
        join(this.dir, "engine"),
        "--sqlite-path",
        join(this.dir, "s.sqlite"),
        "--http-bind-address",
        `127.0.0.1:${port}`,
        "--reporting-disabled",
        "--log-level",
        "error",
      ],
      { cwd: this.dir, env, stdio: "ignore" },
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) })).ok) break;
      } catch {
        // not serving yet
      }
      if (Date.now() > deadline) throw new Error("influxd did not become healthy within 60 s");
      await sleep(100);
    }
    const setup = await fetch(`${this.url}/api/v2/setup`);
    if (((await setup.json()) as { allowed: boolean }).allowed) {
      const response = await fetch(`${this.url}/api/v2/setup`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          username: "chaos",
          password: randomSecret(),
          org: ORG,
          bucket: BUCKET,
          token: this.token,
        }),
      });
      if (response.status !== 201) throw new Error(`onboarding failed: HTTP ${response.status}`);
    }
  }

  freeze(): void {
    this.child?.kill("SIGSTOP");
  }

  thaw(): void {
    this.child?.kill("SIGCONT");
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await exited;
  }

  /** The distinct `state_value`s of the chaos entity stored so far. */
  async stored(): Promise<Set<number>> {
    const flux = `from(bucket: "${BUCKET}") |> range(start: 2025-12-01T00:00:00Z) |> filter(fn: (r) => r._measurement == "home_assistant_events" and r._field == "state_value" and r.entity_id == "sensor.chaos") |> keep(columns: ["_value"])`;
    const response = await fetch(`${this.url}/api/v2/query?org=${ORG}`, {
      method: "POST",
      headers: {
        authorization: `Token ${this.token}`,
        "content-type": "application/vnd.flux",
        accept: "application/csv",
      },
      body: flux,
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) throw new Error(`query failed: HTTP ${response.status} ${await response.text()}`);
    const values = new Set<number>();
    for (const line of (await response.text()).split(/\r?\n/)) {
      const match = /^,_result,\d+,(\d+)$/.exec(line);
      if (match) values.add(Number(match[1]));
    }
    return values;
  }

  /** Stored field values (all fields, all measurements) of the points whose entity_id is (or is not) the chaos entity. */
  async countPoints(chaosEntity: boolean): Promise<number> {
    const flux = `from(bucket: "${BUCKET}") |> range(start: 0) |> filter(fn: (r) => r.entity_id ${chaosEntity ? "==" : "!="} "sensor.chaos") |> group() |> count()`;
    const response = await fetch(`${this.url}/api/v2/query?org=${ORG}`, {
      method: "POST",
      headers: {
        authorization: `Token ${this.token}`,
        "content-type": "application/vnd.flux",
        accept: "application/csv",
      },
      body: flux,
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) throw new Error(`query failed: HTTP ${response.status} ${await response.text()}`);
    let count = 0;
    for (const line of (await response.text()).split(/\r?\n/)) {
      const match = /^,_result,\d+,.*,(\d+)$/.exec(line);
      if (match) count += Number(match[1]);
    }
    return count;
  }

  async remove(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Builds the writer once (`npm run build` of the writer: tsc into writer/dist). */
export function buildWriter(): void {
  execFileSync(
    process.execPath,
    [require.resolve("typescript/bin/tsc"), "-p", join(WRITER_DIR, "tsconfig.build.json")],
    { stdio: "pipe" },
  );
}

/** The writer CLI as a child process on one spool directory and ingest port. */
export class ChaosWriter {
  readonly spoolDir = mkdtempSync(join(tmpdir(), "ha-influx-chaos-spool-"));
  readonly ingestToken = randomSecret();
  url = "";
  child: ChildProcess | undefined;
  /** Highest peak RSS of any run, MB. */
  peakRssMb = 0;
  output = "";
  private exited: Promise<number | null> | undefined;

  constructor(
    private readonly influxd: ChaosInfluxd,
    private readonly env: Record<string, string> = {},
  ) {}

  async start(args: string[] = []): Promise<void> {
    if (this.url === "") this.url = `http://127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, [join(WRITER_DIR, "dist", "cli.js"), ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        INFLUXDB_URL: this.influxd.url,
        INFLUXDB_TOKEN: this.influxd.token,
        INFLUXDB_BATCH_TIMEOUT: "0.2",
        INFLUXDB_WRITE_TIMEOUT: "2",
        INGEST_HOST: "127.0.0.1",
        INGEST_PORT: new URL(this.url).port,
        INGEST_TOKEN: this.ingestToken,
        WRITER_SPOOL_DIR: this.spoolDir,
        LOG_LEVEL: "warn",
        ...this.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString("utf8")).slice(-20_000));
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) return;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null) throw new Error(`the writer exited with ${child.exitCode}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`the writer did not start within 30 s:\n${this.output}`);
      await sleep(50);
    }
  }

  /** Samples the peak RSS of the running process. */
  sample(): void {
    if (this.child?.pid !== undefined && this.child.exitCode === null) {
      try {
        this.peakRssMb = Math.max(this.peakRssMb, peakRssMb(this.child.pid));
      } catch {
        // exited meanwhile
      }
    }
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    this.sample();
    this.child?.kill(signal);
    return (await this.exited) ?? null;
  }

  async readyz(): Promise<number> {
    return (await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(10_000) })).status;
  }

  async status(): Promise<{
    status: string;
    components: { influxdb: { healthy: boolean; message: string; details: Record<string, number> } };
  }> {
    return (await fetch(`${this.url}/status`, { signal: AbortSignal.timeout(5000) })).json() as never;
  }

  /** The sum of a Prometheus counter or gauge over its labels. */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    let sum = 0;
    for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "gm")))
      sum += Number(match[1]);
    return sum;
  }

  /** Bytes in the spool's segment files now. */
  spoolDiskBytes(): number {
    return readdirSync(this.spoolDir)
      .filter((name) => name.startsWith("segment-"))
      .reduce((sum, name) => sum + statSync(join(this.spoolDir, name)).size, 0);
  }

  remove(): void {
    this.child?.kill("SIGKILL");
    rmSync(this.spoolDir, { recursive: true, force: true });
  }
}

/** Sends numbered events to ingest and remembers which ones the writer acknowledged with 200. */
export class IngestClient {
  next = 0;
  sent = 0;
  readonly acknowledged = new Set<number>();
  refused = 0;
  failed = 0;

  constructor(private readonly writer: ChaosWriter) {}

  /** Posts `count` new events as one NDJSON body; true when they were acknowledged. */
  async post(count: number): Promise<boolean> {
    const first = this.next;
    this.next += count;
    this.sent += count;
    const body = Array.from({ length: count }, (_, i) =>
      JSON.stringify({
        entity_id: "sensor.chaos",
        state: String(first + i),
        timestamp: new Date(BASE_MS + (first + i) * 10).toISOString(),
      }),
    ).join("\n");
    try {
      const response = await fetch(`${this.writer.url}/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${this.writer.ingestToken}`, "content-type": "application/x-ndjson" },
        body,
        signal: AbortSignal.timeout(15_000),
      });
      if (response.status === 503) {
        this.refused += count;
        await response.body?.cancel();
        return false;
      }
      const answer = (await response.json()) as { accepted: number };
      if (response.status !== 200 || answer.accepted !== count)
        throw new Error(`unexpected answer ${response.status}: ${JSON.stringify(answer).slice(0, 200)}`);
      for (let i = 0; i < count; i++) this.acknowledged.add(first + i);
      return true;
    } catch (error) {
      // The writer died mid-request: not acknowledged, so not counted (a real client resends).
      if ((error as Error).message.startsWith("unexpected answer")) throw error;
      this.failed += count;
      // A writer that is down refuses connections at once: do not spin.
      await sleep(50);
      return false;
    }
  }

  /** Acknowledged events InfluxDB does not hold. */
  missingFrom(stored: Set<number>): number {
    let missing = 0;
    for (const seq of this.acknowledged) if (!stored.has(seq)) missing++;
    return missing;
  }
}

/** Waits until every acknowledged event is stored; resolves with the milliseconds that took. */
export async function untilStored(
  influxd: ChaosInfluxd,
  client: IngestClient,
  timeoutMs: number,
): Promise<{ ms: number; stored: Set<number> }> {
  const started = Date.now();
  for (;;) {
    let stored = new Set<number>();
    try {
      stored = await influxd.stored();
    } catch {
      // InfluxDB not answering queries yet
    }
    if (client.missingFrom(stored) === 0) return { ms: Date.now() - started, stored };
    if (Date.now() - started > timeoutMs) return { ms: Number.NaN, stored };
    await sleep(200);
  }
}

/** Prints one scenario's figures, the suite's output that CI keeps. */
export function report(scenario: string, figures: Record<string, number | string>): void {
  const text = Object.entries(figures)
    .map(([key, value]) => `${key}=${typeof value === "number" && !Number.isInteger(value) ? value.toFixed(1) : value}`)
    .join(" ");
  console.log(`CHAOS ${scenario}: ${text}`);
}
