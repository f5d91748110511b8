// The writer image (writer/Dockerfile) in a real Docker engine, against a real influxd on the host's
// loopback: health by its own HEALTHCHECK, an unprivileged user, a stop that delivers every accepted
// event, a replacement container that delivers what its predecessor had only spooled, and nothing in
// the image beyond the writer's production dependencies and its compiled code.
// `scripts/ci-docker.sh` builds the image (base images included) and runs this suite with
// HA_INFLUX_WRITER_IMAGE set to its tag.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findOnPath, type InfluxdInstance, inCi, randomSecret, startInfluxd } from "../harness/influxd";

const run = promisify(execFile);
const image = process.env.HA_INFLUX_WRITER_IMAGE;
const missing = [
  ...(findOnPath("docker") === undefined ? ["the docker CLI"] : []),
  ...(findOnPath("influxd") === undefined ? ["influxd"] : []),
  ...(image === undefined ? ["HA_INFLUX_WRITER_IMAGE (the image to test)"] : []),
];
if (missing.length > 0) {
  const message = `${missing.join(", ")} missing: the docker suite needs a Docker engine, influxd and a built writer image (scripts/ci-docker.sh provides all three)`;
  if (inCi()) throw new Error(`${message}; CI is set, so this fails rather than skips`);
  console.warn(`\n*** SKIPPED: ${message}\n`);
}

/** What the program gives the container (components/writer-service.ts). */
const CONFIG_PATH = "/etc/ha-influx-writer/config.json";
const SPOOL_PATH = "/var/lib/ha-influx-writer/spool";
const SHUTDOWN_TIMEOUT_SECONDS = 25;
const STOP_TIMEOUT_SECONDS = SHUTDOWN_TIMEOUT_SECONDS + 5;
const ORG = "home_assistant";
const BUCKETS = {
  events: "home_assistant_events",
  weather: "weather_data",
  system: "system_metrics",
  sports: "sports_data",
};

/** Every secret the suite handles, masked in anything it prints. */
const secrets: string[] = [];
const redact = (text: string) => secrets.reduce((out, secret) => out.split(secret).join("[secret]"), text);

async function docker(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run("docker", args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(redact(`docker ${args.join(" ")} failed: ${failure.stderr || failure.message}`));
  }
}

async function freePort(): Promise<number> {
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

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (${redact(String(last))})` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe.skipIf(missing.length > 0 && !inCi())(`the writer image ${image ?? ""} in a real Docker engine`, () => {
  const suffix = randomSecret(4)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "x");
  const containers: string[] = [];
  const volumes: string[] = [];
  let influxd: InfluxdInstance;
  let dir: string;
  let ingestToken: string;

  /** Starts a writer container as the program would (config file, spool volume, stop signal), on the host network. */
  async function startWriterContainer(
    name: string,
    spoolVolume: string,
    options: { env?: Record<string, string>; ingestPort: number },
  ): Promise<string> {
    const container = `ha-influx-ci-${name}-${suffix}`;
    containers.push(container);
    const envs = Object.entries(options.env ?? {}).flatMap(([key, value]) => ["-e", `${key}=${value}`]);
    await docker(
      "run",
      "-d",
      "--name",
      container,
      // influxd listens on the host's loopback, as every test server here must.
      "--network",
      "host",
      "-v",
      `${join(dir, "config.json")}:${CONFIG_PATH}:ro`,
      "-v",
      `${spoolVolume}:${SPOOL_PATH}`,
      "-e",
      `WRITER_CONFIG_FILE=${CONFIG_PATH}`,
      "-e",
      `INGEST_PORT=${options.ingestPort}`,
      ...envs,
      // The image's own HEALTHCHECK command, probed every second instead of every 30 s.
      "--health-interval",
      "1s",
      "--health-start-period",
      "0s",
      "--stop-timeout",
      String(STOP_TIMEOUT_SECONDS),
      image!,
      "--shutdown-timeout",
      String(SHUTDOWN_TIMEOUT_SECONDS),
    );
    return container;
  }

  async function healthy(container: string): Promise<void> {
    await until(`${container} healthy`, 60_000, async () => {
      const status = await docker("inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", container);
      if (status.startsWith("exited"))
        throw new Error(`${container} exited: ${await docker("logs", "--tail", "20", container)}`);
      return status === "running healthy" ? status : undefined;
    });
  }

  /** POSTs events to a writer's ingest endpoint; every one must come back accepted (durable in the spool). */
  async function submit(port: number, events: object[]): Promise<void> {
    const response = await fetch(`http://127.0.0.1:${port}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${ingestToken}`, "content-type": "application/json" },
      body: JSON.stringify(events),
    });
    const body = (await response.json()) as { results: { status: string }[] };
    expect(response.status).toBe(200);
    expect(body.results.filter((r) => r.status !== "accepted")).toEqual([]);
    expect(body.results).toHaveLength(events.length);
  }

  function events(entity: string, count: number, startMs: number): object[] {
    return Array.from({ length: count }, (_, i) => ({
      entity_id: entity,
      state: String(i),
      attributes: { unit_of_measurement: "W", device_class: "power" },
      timestamp: new Date(startMs + i * 1000).toISOString(),
    }));
  }

  /** Points of `entity` in the events bucket, counted by the server. */
  async function delivered(entity: string): Promise<number> {
    const response = await fetch(`${influxd.url}/api/v2/query?org=${ORG}`, {
      method: "POST",
      headers: { authorization: `Token ${influxd.token}`, "content-type": "application/json" },
      body: JSON.stringify({
        type: "flux",
        query: `from(bucket: "${BUCKETS.events}") |> range(start: 2026-01-01T00:00:00Z, stop: 2027-01-01T00:00:00Z)
          |> filter(fn: (r) => r.entity_id == "${entity}" and r._field == "state_value") |> group() |> count()`,
      }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`query: ${response.status} ${redact(text)}`);
    const row = text.split(/\r?\n/).find((line) => /^,_result,/.test(line));
    return row === undefined ? 0 : Number(row.trim().split(",").pop());
  }

  beforeAll(async () => {
    influxd = await startInfluxd({ org: ORG, bucket: BUCKETS.events });
    secrets.push(influxd.token);
    ingestToken = randomSecret();
    secrets.push(ingestToken);
    for (const bucket of [BUCKETS.weather, BUCKETS.system, BUCKETS.sports]) {
      const response = await fetch(`${influxd.url}/api/v2/buckets`, {
        method: "POST",
        headers: { authorization: `Token ${influxd.token}`, "content-type": "application/json" },
        body: JSON.stringify({ orgID: influxd.orgId, name: bucket, retentionRules: [] }),
      });
      expect(response.status).toBe(201);
    }
    dir = mkdtempSync(join(tmpdir(), "ha-influx-docker-"));
    // The program's writerConfig shape; the ingest port is set per container.
    const config = {
      influxdb: {
        url: influxd.url,
        org: ORG,
        token: influxd.token,
        buckets: BUCKETS,
        batchSize: 100_000,
        batchTimeoutSeconds: 60,
        writeTimeoutSeconds: 10,
        readTimeoutSeconds: 10,
      },
      timeZone: "UTC",
      logLevel: "info",
      logFormat: "json",
      ingest: { host: "127.0.0.1", token: ingestToken },
    };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config), { mode: 0o644 });
  });

  afterAll(async () => {
    for (const container of containers) await docker("rm", "-f", "-v", container).catch(() => undefined);
    for (const volume of volumes) await docker("volume", "rm", "-f", volume).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
    await influxd?.stop();
  });

  it("contains the writer's production dependencies and compiled code only: no dev dependencies, no tests, no source maps of tests", async () => {
    const listing = await docker(
      "run",
      "--rm",
      "--entrypoint",
      "sh",
      image!,
      "-c",
      'ls /app/node_modules /app/writer/node_modules; for d in /app/node_modules/@*; do ls "$d" | sed "s|^|${d#/app/node_modules/}/|"; done; echo \'--- files\'; find /app/writer -type f | sort',
    );
    const [packages, files] = listing.split("--- files");
    const installed = new Set(packages!.split(/\s+/).filter((line) => line !== "" && !line.endsWith(":")));
    const writerPackage = JSON.parse(
      readFileSync(join(__dirname, "..", "..", "writer", "package.json"), "utf8"),
    ) as Record<string, Record<string, string>>;
    const rootPackage = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8")) as Record<
      string,
      Record<string, string>
    >;
    for (const dependency of Object.keys(writerPackage.dependencies!))
      expect(installed.has(dependency), dependency).toBe(true);
    for (const dependency of [
      ...Object.keys(writerPackage.devDependencies!),
      ...Object.keys(rootPackage.devDependencies!),
      "@pulumi/pulumi",
      "@pulumi/docker",
    ]) {
      expect(installed.has(dependency), dependency).toBe(false);
    }
    const fileList = files!.trim().split("\n");
    expect(fileList).toContain("/app/writer/dist/cli.js");
    const unwanted = (file: string) =>
      file.endsWith(".map") ||
      /(^|[/.])test([/.]|$)/.test(file.slice("/app/writer/".length)) ||
      (file.endsWith(".ts") && !file.endsWith(".d.ts"));
    expect(fileList.filter(unwanted)).toEqual([]);
    expect(
      fileList.filter((file) => !file.startsWith("/app/writer/dist/") && file !== "/app/writer/package.json"),
    ).toEqual([]);
  });

  it("runs as the unprivileged node user and is healthy by its own HEALTHCHECK", async () => {
    const spool = `ha-influx-ci-spool-health-${suffix}`;
    volumes.push(spool);
    const port = await freePort();
    const container = await startWriterContainer("health", spool, { ingestPort: port });
    await healthy(container);
    expect(JSON.parse(await docker("inspect", "-f", "{{json .Config.Healthcheck.Test}}", image!))).toEqual([
      "CMD",
      "node",
      "dist/cli.js",
      "healthcheck",
    ]);
    expect(await docker("inspect", "-f", "{{.Config.User}}", image!)).toBe("node");
    expect(await docker("exec", container, "id", "-u")).not.toBe("0");
    // The writer process itself, not only a shell started in the container.
    expect(await docker("exec", container, "sh", "-c", "stat -c %u /proc/1")).toBe(
      await docker("exec", container, "id", "-u"),
    );
    expect(await docker("exec", container, "stat", "-c", "%U", SPOOL_PATH)).toBe("node");
    await docker("rm", "-f", container);
  });

  it("delivers every accepted event on docker stop, within the stop timeout", async () => {
    const spool = `ha-influx-ci-spool-stop-${suffix}`;
    volumes.push(spool);
    const port = await freePort();
    const container = await startWriterContainer("stop", spool, { ingestPort: port });
    await healthy(container);
    // The batch is large and its timeout long: nothing is written before the stop asks for the flush.
    const accepted = events("sensor.ci_stop", 500, Date.parse("2026-06-01T00:00:00Z"));
    await submit(port, accepted);
    expect(await delivered("sensor.ci_stop")).toBe(0);

    const started = Date.now();
    await docker("stop", "-t", String(STOP_TIMEOUT_SECONDS), container);
    const seconds = (Date.now() - started) / 1000;
    console.log(`docker stop took ${seconds.toFixed(1)} s (stop timeout ${STOP_TIMEOUT_SECONDS} s)`);
    expect(seconds).toBeLessThan(STOP_TIMEOUT_SECONDS);
    // 0: the writer exited by itself after its flush; docker's SIGKILL would show as 137.
    expect(await docker("inspect", "-f", "{{.State.ExitCode}}", container)).toBe("0");
    expect(await delivered("sensor.ci_stop")).toBe(accepted.length);
  });

  it("a replacement container on the same spool volume delivers what the old one had only spooled", async () => {
    const spool = `ha-influx-ci-spool-replace-${suffix}`;
    volumes.push(spool);
    // The old container cannot reach InfluxDB (nothing listens on its port), so what it accepts stays in its spool.
    const unreachable = `http://127.0.0.1:${await freePort()}`;
    const oldPort = await freePort();
    const old = await startWriterContainer("old", spool, {
      ingestPort: oldPort,
      env: { INFLUXDB_URL: unreachable, INFLUXDB_BATCH_TIMEOUT: "1" },
    });
    await healthy(old);
    const accepted = events("sensor.ci_replaced", 300, Date.parse("2026-07-01T00:00:00Z"));
    await submit(oldPort, accepted);
    // Killed, not stopped: no flush, no goodbye; the spool volume is all that is left.
    await docker("rm", "-f", old);
    expect(await delivered("sensor.ci_replaced")).toBe(0);

    const newPort = await freePort();
    const replacement = await startWriterContainer("new", spool, {
      ingestPort: newPort,
      env: { INFLUXDB_BATCH_TIMEOUT: "1" },
    });
    await healthy(replacement);
    const count = await until("the spooled events delivered", 60_000, async () => {
      const n = await delivered("sensor.ci_replaced");
      return n >= accepted.length ? n : undefined;
    });
    expect(count).toBe(accepted.length);
    await docker("stop", "-t", String(STOP_TIMEOUT_SECONDS), replacement);
  });
});
