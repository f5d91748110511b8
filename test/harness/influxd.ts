// A throwaway influxd for tests: temporary directories, a free port on 127.0.0.1, onboarding with a
// random password and token that are never printed, and teardown even when the test process dies.
// Framework-free so end-to-end tests, the writer's tests and scripts can all use it.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** A running, onboarded influxd. */
export interface InfluxdInstance {
  /** Base URL, `http://127.0.0.1:<port>`. */
  url: string;
  /** The operator (all-access) token created by onboarding. Never log it. */
  token: string;
  /** Name of the organisation created by onboarding. */
  org: string;
  /** Id of that organisation. */
  orgId: string;
  /** Name of the bucket created by onboarding. */
  bucket: string;
  /** Id of that bucket. */
  bucketId: string;
  /** The temporary directory holding the server's data; `stop()` removes it. */
  dataDir: string;
  /** Stops the server and removes its directories; safe to call more than once. */
  stop(): Promise<void>;
}

/** Options of {@link startInfluxd}. */
export interface StartInfluxdOptions {
  /** Organisation to onboard with; default `harness`. */
  org?: string;
  /** Bucket to onboard with; default `harness`. */
  bucket?: string;
  /** Skip onboarding (for tests of the setup itself); `token`, `orgId` and `bucketId` are then empty. */
  onboard?: boolean;
  /** How long to wait for `/health`, in milliseconds; default 60 s. */
  startTimeoutMs?: number;
}

const live = new Set<{ child: ChildProcess; dir: string }>();
let exitHookInstalled = false;

/** True in CI, where a missing tool must fail the run rather than skip tests. */
export function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== "" && ci !== "false" && ci !== "0";
}

/** The path of an executable `name` on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The path of `influxd` on PATH, or undefined. */
export function findInfluxd(): string | undefined {
  return findOnPath("influxd");
}

/**
 * `binary` when it was found. Without it, in CI (where a missing tool must fail the run) it throws
 * with `missing`; elsewhere it prints `missing` as a visible warning and returns undefined, so the
 * caller can skip.
 */
export function foundOrSkip(binary: string | undefined, missing: string): string | undefined {
  if (binary) return binary;
  if (inCi()) throw new Error(`${missing} (CI is set, so this is a failure, not a skip)`);
  console.warn(`\n*** SKIPPED: ${missing}\n`);
  return undefined;
}

/** The `influxd` to test with (see {@link foundOrSkip}). */
export function locateInfluxd(): string | undefined {
  return foundOrSkip(
    findInfluxd(),
    "influxd (InfluxDB 2.7) is not on PATH: the tests that need a real server cannot run. " +
      '`eval "$(scripts/install-tools.sh)"` builds it and puts it on PATH.',
  );
}

/** A port of 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

function killAllSync(): void {
  for (const entry of live) {
    entry.child.kill("SIGKILL");
    rmSync(entry.dir, { recursive: true, force: true });
  }
  live.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Only synchronous work is possible here: kill hard, remove the directories.
  process.once("exit", killAllSync);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAllSync();
      process.kill(process.pid, signal);
    });
  }
}

/** A random secret of `bytes` bytes, URL-safe. */
export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString("base64url");
}

async function waitUntilServing(url: string, child: ChildProcess, deadline: number, log: () => string): Promise<void> {
  let lastProblem = "no answer yet";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`influxd exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${log()}`);
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
      lastProblem = `HTTP ${response.status}`;
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`influxd at ${url} was not healthy in time (${lastProblem}):\n${log()}`);
}

async function onboard(url: string, org: string, bucket: string) {
  const token = randomSecret();
  const response = await fetch(`${url}/api/v2/setup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "harness", password: randomSecret(), org, bucket, token }),
  });
  if (response.status !== 201) throw new Error(`onboarding failed: HTTP ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { org: { id: string }; bucket: { id: string } };
  return { token, orgId: body.org.id, bucketId: body.bucket.id };
}

/**
 * Starts a fresh influxd from PATH in its own temporary directories on a free port of 127.0.0.1,
 * waits for `/health`, and onboards it. Throws (naming what is missing) if `influxd` is not on PATH.
 */
export async function startInfluxd(options: StartInfluxdOptions = {}): Promise<InfluxdInstance> {
  const binary = findInfluxd();
  if (!binary)
    throw new Error('influxd (InfluxDB 2.7) is not on PATH; `eval "$(scripts/install-tools.sh)"` provides it');
  const org = options.org ?? "harness";
  const bucket = options.bucket ?? "harness";
  installExitHook();

  // The port is free when picked but could be taken before influxd binds it: retry on a new one.
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "ha-influx-influxd-"));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("INFLUXD_")));
    const child = spawn(
      binary,
      [
        "--bolt-path",
        join(dir, "b.bolt"),
        "--engine-path",
        join(dir, "engine"),
        "--sqlite-path",
        join(dir, "s.sqlite"),
        "--http-bind-address",
        `127.0.0.1:${port}`,
        "--reporting-disabled",
        "--log-level",
        "error",
      ],
      // Its own working directory, so no stray config file in the caller's directory is read.
      { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    const entry = { child, dir };
    live.add(entry);
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-8_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const gaveUp = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(gaveUp);
      }
      rmSync(dir, { recursive: true, force: true });
      live.delete(entry);
    };

    try {
      await waitUntilServing(url, child, Date.now() + (options.startTimeoutMs ?? 60_000), () => output);
      if (options.onboard === false)
        return { url, token: "", org, orgId: "", bucket, bucketId: "", dataDir: dir, stop };
      const setup = await onboard(url, org, bucket);
      return { url, org, bucket, ...setup, dataDir: dir, stop };
    } catch (error) {
      await stop();
      const portTaken = /address already in use/i.test(output);
      if (!portTaken || attempt >= 3) throw error;
    }
  }
}
