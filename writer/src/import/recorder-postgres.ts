/**
 * Reads a Home Assistant recorder on PostgreSQL (`recorder: db_url: postgresql://…`) for the import,
 * through `pg` (node-postgres, pure JavaScript: nothing native to build or ship).
 *
 * Every query runs in its own transaction `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY`: the
 * server refuses any write, and a page of states is one snapshot. A page, not the whole run: a
 * snapshot held open for the minutes a large import takes would keep PostgreSQL's vacuum from
 * cleaning up after the recorder (which goes on writing and purging meanwhile), and the SQLite source
 * has a snapshot per query too. Paging by the position `(last_updated_ts, state_id)` makes per-page
 * snapshots safe: a page continues after the last row of the one before, whatever was committed in
 * between (newer states come later in the order; purged ones are gone from both).
 *
 * The password is never part of what this module says: `name` is the URL without user, password or
 * query, and every error message passes through `redact` before it becomes a `RecorderError`.
 * Without a password in the URL, `pg` takes `PGPASSWORD`, as `psql` does (its `~/.pgpass` support is
 * deprecated in pg 8 and warns).
 */
import { Client } from "pg";
import {
  type RawStateRow,
  REQUIRED_TABLES,
  RecorderError,
  type RecorderSource,
  type RecorderStateRow,
  STATES_SELECT,
  type StatePosition,
  type StateSelection,
  type StatisticsMetaColumns,
  type StatisticsMetaRow,
  type StatisticsValueRow,
  SUPPORTED_SCHEMA_VERSIONS,
  selectionWhere,
  stateRow,
  statisticsMetaOf,
} from "./recorder";

/** How long to wait for the server to accept the connection. */
const CONNECT_TIMEOUT_MS = 10_000;

/** A PostgreSQL URL's parts that may be shown: no user, no password, no query (which may hold one). */
export interface PostgresTarget {
  /** `postgresql://host:port/database`, for messages and the checkpoint. */
  name: string;
  /** The password in the URL, to be kept out of every message; empty when there is none. */
  password: string;
}

/** Whether `url` is a PostgreSQL URL (`postgresql://` or `postgres://`). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The shown name and the secret of a `postgresql://user:pass@host:port/db` URL; a `RecorderError` without the URL's text when it is not one. */
export function postgresTarget(url: string): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RecorderError("--db-url is not a valid URL (expected postgresql://user:password@host:port/database)");
  }
  if (parsed.protocol !== "postgresql:" && parsed.protocol !== "postgres:")
    throw new RecorderError(
      `--db-url: ${parsed.protocol}// is not supported; only PostgreSQL (postgresql://user:password@host:port/database)`,
    );
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (parsed.hostname === "" || database === "")
    throw new RecorderError("--db-url needs a host and a database: postgresql://user:password@host:port/database");
  let password = "";
  try {
    password = decodeURIComponent(parsed.password);
  } catch {
    password = parsed.password;
  }
  return { name: `postgresql://${parsed.hostname}:${parsed.port || "5432"}/${database}`, password };
}

/** `text` with every occurrence of the password (as given and URL-encoded) replaced by `***`. */
export function redact(text: string, password: string): string {
  if (password === "") return text;
  let result = text;
  for (const secret of new Set([password, encodeURIComponent(password)])) result = result.split(secret).join("***");
  return result;
}

/** A recorder on PostgreSQL, connected and checked; every query a read-only transaction. */
export class PostgresRecorder implements RecorderSource {
  private constructor(
    readonly name: string,
    readonly schemaVersion: number,
    private readonly client: Client,
    private readonly password: string,
  ) {}

  /** Connects to `url` and checks the tables and the schema version; a one-line `RecorderError` naming what is wrong. */
  static async open(url: string): Promise<PostgresRecorder> {
    const target = postgresTarget(url);
    const fail = (what: string, error: unknown): never => {
      throw new RecorderError(`${target.name}: ${what}: ${redact(messageOf(error), target.password)}`);
    };
    const client = new Client({
      connectionString: url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: "ha-influx-writer import",
    });
    // A connection the server drops later must not crash the process: the next query reports it.
    client.on("error", () => {});
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      fail("cannot connect", error);
    }
    try {
      const recorder = new PostgresRecorder(target.name, 0, client, target.password);
      const tables = await recorder.tables();
      const missing = REQUIRED_TABLES.filter((table) => !tables.has(table));
      if (missing.length > 0)
        throw new RecorderError(
          `${target.name}: not a Home Assistant recorder database: table ${missing.join(", ")} missing`,
        );
      const rows = await recorder.query<{ schema_version: number }>(
        "SELECT schema_version FROM schema_changes ORDER BY change_id DESC LIMIT 1",
      );
      if (rows.length === 0)
        throw new RecorderError(
          `${target.name}: the schema_changes table is empty: the recorder schema version is unknown`,
        );
      const version = Number(rows[0]!.schema_version);
      if (!SUPPORTED_SCHEMA_VERSIONS.includes(version))
        throw new RecorderError(
          `${target.name}: recorder schema version ${version} is not supported (supported: ${SUPPORTED_SCHEMA_VERSIONS.join(", ")})`,
        );
      return new PostgresRecorder(target.name, version, client, target.password);
    } catch (error) {
      await client.end().catch(() => {});
      if (error instanceof RecorderError) throw error;
      return fail("cannot read the database", error);
    }
  }

  async countStates(selection: StateSelection, after?: StatePosition): Promise<number> {
    const { where, params } = selectionWhere(selection, after, placeholder);
    const rows = await this.query<{ n: string }>(
      `SELECT count(*) AS n FROM states s JOIN states_meta m ON m.metadata_id = s.metadata_id WHERE ${where}`,
      params,
    );
    return Number(rows[0]!.n);
  }

  async countPerEntity(selection: StateSelection): Promise<Map<string, number>> {
    const { where, params } = selectionWhere(selection, undefined, placeholder);
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's collation.
    const rows = await this.query<{ entity_id: string; n: string }>(
      `SELECT m.entity_id AS entity_id, count(*) AS n FROM states s JOIN states_meta m ON m.metadata_id = s.metadata_id WHERE ${where} GROUP BY m.entity_id ORDER BY m.entity_id COLLATE "C"`,
      params,
    );
    return new Map(rows.map((row) => [row.entity_id, Number(row.n)]));
  }

  async readStates(
    selection: StateSelection,
    after: StatePosition | undefined,
    limit: number,
  ): Promise<RecorderStateRow[]> {
    const { where, params } = selectionWhere(selection, after, placeholder);
    const rows = await this.query<RawStateRow>(
      `${STATES_SELECT} WHERE ${where} ORDER BY s.last_updated_ts, s.state_id LIMIT ${placeholder(params.length + 1)}`,
      [...params, limit],
    );
    return rows.map(stateRow);
  }

  async statisticsMeta(): Promise<StatisticsMetaRow[]> {
    const tables = await this.tables();
    for (const table of ["statistics", "statistics_meta"])
      if (!tables.has(table)) throw new RecorderError(`${this.name}: table ${table} missing`);
    const rows = await this.query<StatisticsMetaColumns>(
      'SELECT id, statistic_id, source, unit_of_measurement, has_mean, has_sum FROM statistics_meta ORDER BY statistic_id COLLATE "C"',
    );
    return rows.map(statisticsMetaOf);
  }

  async entitySummary(entityId: string): Promise<{ firstTs?: number; latestAttributes?: string } | undefined> {
    const meta = await this.query<{ metadata_id: number }>("SELECT metadata_id FROM states_meta WHERE entity_id = $1", [
      entityId,
    ]);
    if (meta.length === 0) return undefined;
    const id = meta[0]!.metadata_id;
    const first = await this.query<{ ts: number | null }>(
      "SELECT min(last_updated_ts) AS ts FROM states WHERE metadata_id = $1",
      [id],
    );
    const latest = await this.query<{ attrs: string | null }>(
      "SELECT a.shared_attrs AS attrs FROM states s JOIN state_attributes a ON a.attributes_id = s.attributes_id WHERE s.metadata_id = $1 ORDER BY s.last_updated_ts DESC LIMIT 1",
      [id],
    );
    const result: { firstTs?: number; latestAttributes?: string } = {};
    if (first[0]?.ts != null) result.firstTs = first[0].ts;
    if (latest[0]?.attrs) result.latestAttributes = latest[0].attrs;
    return result;
  }

  async readStatistics(metadataId: number, startTs?: number, stopTs?: number): Promise<StatisticsValueRow[]> {
    const rows = await this.query<{
      start_ts: number;
      mean: number | null;
      min: number | null;
      max: number | null;
      sum: number | null;
    }>(
      "SELECT start_ts, mean, min, max, sum FROM statistics WHERE metadata_id = $1 AND start_ts >= $2 AND start_ts < $3 ORDER BY start_ts",
      [metadataId, startTs ?? -1e12, stopTs ?? 1e12],
    );
    return rows.map((row) => ({ startTs: row.start_ts, mean: row.mean, min: row.min, max: row.max, sum: row.sum }));
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }

  /**
   * The tables of the connection's schema (Home Assistant creates its tables in the default one),
   * from the catalog: `information_schema.tables` lists only the tables the user may read, which
   * would call a table we may not read missing instead of letting its query say "permission denied".
   */
  private async tables(): Promise<Set<string>> {
    const rows = await this.query<{ name: string }>(
      "SELECT tablename AS name FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
    );
    return new Set(rows.map((row) => row.name));
  }

  /** One read-only, repeatable-read transaction around `sql`; a `RecorderError` without the password on failure. */
  private async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    try {
      await this.client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      try {
        const result = await this.client.query(sql, params);
        await this.client.query("COMMIT");
        return result.rows as T[];
      } catch (error) {
        await this.client.query("ROLLBACK").catch(() => {});
        throw error;
      }
    } catch (error) {
      throw new RecorderError(`${this.name}: cannot read the database: ${redact(messageOf(error), this.password)}`);
    }
  }
}

function placeholder(n: number): string {
  return `$${n}`;
}

/** One line for a driver error (the `AggregateError` of a host with several addresses has an empty message). */
export function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0)
    return [...new Set(error.errors.map((inner) => messageOf(inner)))].join("; ");
  const text = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const fallback = typeof code === "string" ? code : error instanceof Error ? error.name : "unknown error";
  return (text || fallback).replace(/\s+/g, " ").trim();
}
