// A throwaway PostgreSQL server for tests: `initdb` in a temporary directory (password authentication
// over TCP, scram-sha-256), `postgres` on a free port of 127.0.0.1 with its socket in that directory,
// as the `postgres` user when the tests run as root (initdb refuses root), and teardown even when the
// test process dies. The programs come from scripts/install-postgresql.sh. Framework-free, like the
// influxd harness.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { findOnPath, foundOrSkip, freePort, randomSecret } from "./influxd";

/** A running PostgreSQL server with a superuser `postgres`. */
export interface PostgresInstance {
  host: string;
  port: number;
  /** The superuser's password. Never log it. */
  superuserPassword: string;
  /** Creates a login role and a database it owns; resolves with the role's URL (it holds the password: never log it). */
  createDatabase(database: string, role: string): Promise<string>;
  /** Runs SQL as the superuser in `database`. */
  sql(database: string, text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Stops the server and removes its directory; safe to call more than once. */
  stop(): Promise<void>;
}

/** The `postgres` server program to test with (see {@link foundOrSkip}). */
export function locatePostgres(): string | undefined {
  const found = ["initdb", "postgres"].every((name) => findOnPath(name) !== undefined);
  return foundOrSkip(
    found ? findOnPath("postgres") : undefined,
    "PostgreSQL (initdb, postgres) is not on PATH: the tests against a recorder on PostgreSQL cannot run. " +
      '`eval "$(scripts/install-postgresql.sh)"` installs it and puts it on PATH.',
  );
}

const live = new Set<{ child: ChildProcess; dir: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const entry of live) {
      entry.child.kill("SIGKILL");
      rmSync(entry.dir, { recursive: true, force: true });
    }
  });
}

/** Starts a fresh cluster and waits until it accepts connections. */
export async function startPostgres(options: { startTimeoutMs?: number } = {}): Promise<PostgresInstance> {
  const initdb = findOnPath("initdb");
  const postgres = findOnPath("postgres");
  if (!initdb || !postgres)
    throw new Error('initdb/postgres are not on PATH; `eval "$(scripts/install-postgresql.sh)"` provides them');
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), "ha-influx-postgres-"));
  // As root, the server runs as `postgres`: it owns the directory.
  let user: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
    user = { uid: id("-u"), gid: id("-g") };
    chownSync(dir, user.uid, user.gid);
  }
  const superuserPassword = randomSecret();
  const passwordFile = join(dir, "pw");
  writeFileSync(passwordFile, `${superuserPassword}\n`, { mode: 0o600 });
  if (user) chownSync(passwordFile, user.uid, user.gid);
  const data = join(dir, "data");
  try {
    execFileSync(
      initdb,
      [
        "-D",
        data,
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--locale=C",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        `--pwfile=${passwordFile}`,
        "--no-sync",
      ],
      { stdio: ["ignore", "ignore", "pipe"], ...(user ?? {}) },
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${String((error as { stderr?: Buffer }).stderr ?? error)}`);
  }
  rmSync(passwordFile);
  const port = await freePort();
  const host = "127.0.0.1";
  const child = spawn(
    postgres,
    ["-D", data, "-p", String(port), "-k", dir, "-c", `listen_addresses=${host}`, "-c", "fsync=off"],
    { stdio: ["ignore", "ignore", "pipe"], ...(user ?? {}) },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const entry = { child, dir };
  live.add(entry);
  const connect = async (database: string) => {
    const client = new Client({ host, port, user: "postgres", password: superuserPassword, database });
    client.on("error", () => {});
    await client.connect();
    return client;
  };
  const stop = async () => {
    if (!live.has(entry)) return;
    live.delete(entry);
    if (child.exitCode === null && child.signalCode === null) {
      // SIGINT: the server's fast shutdown.
      child.kill("SIGINT");
      const gaveUp = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(gaveUp);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let problem = "no answer yet";
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}) before it served:\n${stderr}`);
    }
    try {
      const client = await connect("postgres");
      await client.end();
      break;
    } catch (error) {
      problem = (error as Error).message;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`postgres on ${host}:${port} did not accept connections in time (${problem}):\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const sql = async (database: string, text: string, params: unknown[] = []) => {
    const client = await connect(database);
    try {
      return (await client.query(text, params)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  };
  return {
    host,
    port,
    superuserPassword,
    async createDatabase(database, role) {
      const password = randomSecret();
      // Identifiers from the test itself; the password is a parameter of no statement, so it is quoted here.
      await sql("postgres", `CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`);
      await sql("postgres", `CREATE DATABASE "${database}" OWNER "${role}"`);
      return `postgresql://${role}:${password}@${host}:${port}/${database}`;
    },
    sql,
    stop,
  };
}
