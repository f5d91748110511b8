/**
 * Reads Home Assistant's recorder database (`home-assistant_v2.db`, SQLite) for the import, and
 * defines `RecorderSource`, what the importer and the statistics import need from any recorder
 * database (SQLite here, PostgreSQL in `recorder-postgres.ts`).
 *
 * The driver is Node's built-in `node:sqlite` (Node >= 22.5, stable enough in Node 24 which the writer
 * runs on): no native module to build or ship in the image, and it opens a database read-only. Home
 * Assistant keeps its database in WAL mode and goes on writing while we read; a read-only connection
 * still takes part in the WAL protocol (it reads the `-wal` file through the shared `-shm` index), so
 * it sees a consistent snapshot per query and never blocks the recorder's commits. Every batch is its
 * own short query, so the importer holds no read transaction open for long (which would keep the
 * recorder from checkpointing the WAL).
 *
 * Only the schema versions listed in `SUPPORTED_SCHEMA_VERSIONS` are read: they are the ones whose
 * tables and columns were checked against a database a real Home Assistant created.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";

/** Recorder schema versions verified against a real Home Assistant (42: 2024.3). */
export const SUPPORTED_SCHEMA_VERSIONS: readonly number[] = [42];

/** Tables the state import needs. */
export const REQUIRED_TABLES = ["schema_changes", "states", "states_meta", "state_attributes"] as const;

/** A user-facing problem with the database: the CLI prints its message as one line. */
export class RecorderError extends Error {}

/** One row of `states`, with its entity, attributes text and the state it replaced. */
export interface RecorderStateRow {
  stateId: number;
  entityId: string;
  state: string;
  /** Float seconds since the epoch, as the recorder stores them. */
  lastUpdatedTs: number;
  /** `last_changed_ts`, which the recorder leaves NULL when it equals `last_updated_ts`. */
  lastChangedTs: number;
  /** `state_attributes.shared_attrs` (JSON text), or null when the row has none. */
  attributes: string | null;
  /** The row named by `old_state_id`, when it is still in the database. */
  old?: { state: string; lastChangedTs: number };
}

/** Position in the time order of states: `(last_updated_ts, state_id)`. */
export interface StatePosition {
  lastUpdatedTs: number;
  stateId: number;
}

/** Which states to read. */
export interface StateSelection {
  /** Inclusive lower bound, seconds since the epoch. */
  startTs?: number;
  /** Exclusive upper bound, seconds since the epoch. */
  stopTs?: number;
  /** Only these entity ids (combined with `domains` as "either"). */
  entities?: readonly string[];
  /** Only entities of these domains. */
  domains?: readonly string[];
}

/** A value, or a promise of it: the SQLite source answers at once, the PostgreSQL one over the network. */
export type Awaitable<T> = T | Promise<T>;

/** One series of `statistics_meta`. */
export interface StatisticsMetaRow {
  id: number;
  statisticId: string;
  source: string;
  unit: string | null;
  hasMean: boolean;
  hasSum: boolean;
}

/** A `statistics_meta` row as either database returns it (SQLite: 0/1 flags; PostgreSQL: booleans). */
export interface StatisticsMetaColumns {
  id: number | string;
  statistic_id: string;
  source: string;
  unit_of_measurement: string | null;
  has_mean: number | boolean | null;
  has_sum: number | boolean | null;
}

/** The `statistics_meta` columns as a `StatisticsMetaRow`. */
export function statisticsMetaOf(row: StatisticsMetaColumns): StatisticsMetaRow {
  return {
    id: Number(row.id),
    statisticId: row.statistic_id,
    source: row.source,
    unit: row.unit_of_measurement,
    hasMean: Boolean(row.has_mean),
    hasSum: Boolean(row.has_sum),
  };
}

/** One hourly row of `statistics`. */
export interface StatisticsValueRow {
  startTs: number;
  mean: number | null;
  min: number | null;
  max: number | null;
  sum: number | null;
}

/**
 * What the importer and the statistics import read from a recorder database. An opened source has
 * passed its checks: the tables in `REQUIRED_TABLES` exist and the schema version is supported.
 */
export interface RecorderSource {
  /**
   * The database as the summary, the progress lines and the checkpoint name it: the absolute path of
   * an SQLite file, the URL without credentials of a server. Never holds a password.
   */
  readonly name: string;
  readonly schemaVersion: number;
  /** Counts the selected states (for progress and `--dry-run`), from `after` on. */
  countStates(selection: StateSelection, after?: StatePosition): Awaitable<number>;
  /** Selected states per entity, by entity id (for `--dry-run`). */
  countPerEntity(selection: StateSelection): Awaitable<Map<string, number>>;
  /** The next at most `limit` selected states after `after`, in time order (`last_updated_ts`, then `state_id`). */
  readStates(selection: StateSelection, after: StatePosition | undefined, limit: number): Awaitable<RecorderStateRow[]>;
  /** `statistics_meta` by statistic id; a `RecorderError` when the statistics tables are missing. */
  statisticsMeta(): Awaitable<StatisticsMetaRow[]>;
  /** An entity's first raw state time and latest attributes text, when it has states. */
  entitySummary(entityId: string): Awaitable<{ firstTs?: number; latestAttributes?: string } | undefined>;
  /** The hourly statistics of one series in `[startTs, stopTs)`, in time order. */
  readStatistics(metadataId: number, startTs?: number, stopTs?: number): Awaitable<StatisticsValueRow[]>;
  close(): Awaitable<void>;
}

const SQLITE_MAGIC = "SQLite format 3\u0000";

/** A recorder database (SQLite) opened read-only. */
export class RecorderDatabase implements RecorderSource {
  readonly schemaVersion: number;
  readonly name: string;
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  private constructor(
    readonly path: string,
    db: DatabaseSync,
    schemaVersion: number,
  ) {
    this.db = db;
    this.schemaVersion = schemaVersion;
    this.name = resolve(path);
  }

  /** Opens `path` read-only; throws a `RecorderError` naming what is wrong with it. */
  static open(path: string): RecorderDatabase {
    if (!existsSync(path)) throw new RecorderError(`${path}: no such file`);
    if (!statSync(path).isFile()) throw new RecorderError(`${path}: not a file`);
    // node:sqlite opens any file lazily and fails on the first query with "file is not a database";
    // checking the header first gives the user a message about their file, not about a query.
    const header = Buffer.alloc(16);
    const fd = openSync(path, "r");
    try {
      readSync(fd, header, 0, 16, 0);
    } finally {
      closeSync(fd);
    }
    if (header.toString("latin1") !== SQLITE_MAGIC) throw new RecorderError(`${path}: not an SQLite database`);
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { readOnly: true });
    } catch (error) {
      throw new RecorderError(`${path}: cannot open the database: ${(error as Error).message}`);
    }
    try {
      const tables = new Set(
        (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map(
          (row) => row.name,
        ),
      );
      const missing = REQUIRED_TABLES.filter((table) => !tables.has(table));
      if (missing.length > 0)
        throw new RecorderError(`${path}: not a Home Assistant recorder database: table ${missing.join(", ")} missing`);
      const row = db.prepare("SELECT schema_version FROM schema_changes ORDER BY change_id DESC LIMIT 1").get() as
        | { schema_version: number }
        | undefined;
      if (row === undefined)
        throw new RecorderError(`${path}: the schema_changes table is empty: the recorder schema version is unknown`);
      const version = Number(row.schema_version);
      if (!SUPPORTED_SCHEMA_VERSIONS.includes(version)) {
        throw new RecorderError(
          `${path}: recorder schema version ${version} is not supported (supported: ${SUPPORTED_SCHEMA_VERSIONS.join(", ")})`,
        );
      }
      return new RecorderDatabase(path, db, version);
    } catch (error) {
      db.close();
      if (error instanceof RecorderError) throw error;
      throw new RecorderError(`${path}: cannot read the database: ${(error as Error).message}`);
    }
  }

  /** Counts the selected states (for progress and `--dry-run`), from `after` on. */
  countStates(selection: StateSelection, after?: StatePosition): number {
    const { where, params } = this.whereClause(selection, after);
    const row = this.db
      .prepare(`SELECT count(*) AS n FROM states s JOIN states_meta m ON m.metadata_id = s.metadata_id WHERE ${where}`)
      .get(...params) as { n: number };
    return Number(row.n);
  }

  /** Selected states per entity (for `--dry-run`). */
  countPerEntity(selection: StateSelection): Map<string, number> {
    const { where, params } = this.whereClause(selection);
    const rows = this.db
      .prepare(
        `SELECT m.entity_id AS entity_id, count(*) AS n FROM states s JOIN states_meta m ON m.metadata_id = s.metadata_id WHERE ${where} GROUP BY m.entity_id ORDER BY m.entity_id`,
      )
      .all(...params) as { entity_id: string; n: number }[];
    return new Map(rows.map((row) => [row.entity_id, Number(row.n)]));
  }

  /** The next at most `limit` selected states after `after`, in time order (`last_updated_ts`, then `state_id`). */
  readStates(selection: StateSelection, after: StatePosition | undefined, limit: number): RecorderStateRow[] {
    const { where, params } = this.whereClause(selection, after);
    const sql = `${STATES_SELECT} WHERE ${where} ORDER BY s.last_updated_ts, s.state_id LIMIT ?`;
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return (statement.all(...params, limit) as unknown as RawStateRow[]).map(stateRow);
  }

  /** `statistics_meta`; throws a `RecorderError` when the statistics tables are missing. */
  statisticsMeta(): StatisticsMetaRow[] {
    const tables = new Set(
      (this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map(
        (row) => row.name,
      ),
    );
    for (const table of ["statistics", "statistics_meta"])
      if (!tables.has(table)) throw new RecorderError(`${this.path}: table ${table} missing`);
    const rows = this.db
      .prepare(
        "SELECT id, statistic_id, source, unit_of_measurement, has_mean, has_sum FROM statistics_meta ORDER BY statistic_id",
      )
      .all() as unknown as StatisticsMetaColumns[];
    return rows.map(statisticsMetaOf);
  }

  /** An entity's first raw state time and latest attributes text, when it has states. */
  entitySummary(entityId: string): { firstTs?: number; latestAttributes?: string } | undefined {
    const meta = this.db.prepare("SELECT metadata_id FROM states_meta WHERE entity_id = ?").get(entityId) as
      | { metadata_id: number }
      | undefined;
    if (meta === undefined) return undefined;
    const first = this.db
      .prepare("SELECT min(last_updated_ts) AS ts FROM states WHERE metadata_id = ?")
      .get(meta.metadata_id) as { ts: number | null };
    const latest = this.db
      .prepare(
        "SELECT a.shared_attrs AS attrs FROM states s JOIN state_attributes a ON a.attributes_id = s.attributes_id WHERE s.metadata_id = ? ORDER BY s.last_updated_ts DESC LIMIT 1",
      )
      .get(meta.metadata_id) as { attrs: string | null } | undefined;
    const result: { firstTs?: number; latestAttributes?: string } = {};
    if (first.ts !== null) result.firstTs = first.ts;
    if (latest?.attrs) result.latestAttributes = latest.attrs;
    return result;
  }

  /** The hourly statistics of one series in `[startTs, stopTs)`, in time order. */
  readStatistics(metadataId: number, startTs?: number, stopTs?: number): StatisticsValueRow[] {
    const rows = this.db
      .prepare(
        "SELECT start_ts, mean, min, max, sum FROM statistics WHERE metadata_id = ? AND start_ts >= ? AND start_ts < ? ORDER BY start_ts",
      )
      .all(metadataId, startTs ?? -1e12, stopTs ?? 1e12) as {
      start_ts: number;
      mean: number | null;
      min: number | null;
      max: number | null;
      sum: number | null;
    }[];
    return rows.map((row) => ({ startTs: row.start_ts, mean: row.mean, min: row.min, max: row.max, sum: row.sum }));
  }

  close(): void {
    this.db.close();
  }
  private whereClause(
    selection: StateSelection,
    after?: StatePosition,
  ): { where: string; params: (number | string)[] } {
    return selectionWhere(selection, after, () => "?");
  }
}

/** The columns and joins of a page of states (`readStates`), before its WHERE clause. */
export const STATES_SELECT =
  "SELECT s.state_id AS state_id, m.entity_id AS entity_id, s.state AS state, s.last_updated_ts AS lu, " +
  "s.last_changed_ts AS lc, a.shared_attrs AS attrs, o.state AS old_state, o.last_changed_ts AS old_lc, o.last_updated_ts AS old_lu " +
  "FROM states s JOIN states_meta m ON m.metadata_id = s.metadata_id " +
  "LEFT JOIN state_attributes a ON a.attributes_id = s.attributes_id " +
  "LEFT JOIN states o ON o.state_id = s.old_state_id";

/** A row of {@link STATES_SELECT} as the driver returns it. */
export interface RawStateRow {
  state_id: number;
  entity_id: string;
  state: string | null;
  lu: number;
  lc: number | null;
  attrs: string | null;
  old_state: string | null;
  old_lc: number | null;
  old_lu: number | null;
}

/** A row of {@link STATES_SELECT} as the importer reads it. */
export function stateRow(row: RawStateRow): RecorderStateRow {
  const result: RecorderStateRow = {
    stateId: Number(row.state_id),
    entityId: row.entity_id,
    // The recorder stores NULL for a state it could not keep; Home Assistant reads it back as "".
    state: row.state ?? "",
    lastUpdatedTs: row.lu,
    lastChangedTs: row.lc ?? row.lu,
    attributes: row.attrs,
  };
  if (row.old_lu !== null) result.old = { state: row.old_state ?? "", lastChangedTs: row.old_lc ?? row.old_lu };
  return result;
}

/**
 * The WHERE clause (over `states s JOIN states_meta m`) of a selection from `after` on, with its
 * parameters; `placeholder(n)` writes the n-th (1-based) parameter: `?` for SQLite, `$n` for PostgreSQL.
 */
export function selectionWhere(
  selection: StateSelection,
  after: StatePosition | undefined,
  placeholder: (n: number) => string,
  firstParameter = 1,
): { where: string; params: (number | string)[] } {
  const clauses = ["s.last_updated_ts IS NOT NULL"];
  const params: (number | string)[] = [];
  const p = (value: number | string) => {
    params.push(value);
    return placeholder(firstParameter + params.length - 1);
  };
  if (selection.startTs !== undefined) clauses.push(`s.last_updated_ts >= ${p(selection.startTs)}`);
  if (selection.stopTs !== undefined) clauses.push(`s.last_updated_ts < ${p(selection.stopTs)}`);
  const entities = selection.entities ?? [];
  const domains = selection.domains ?? [];
  if (entities.length > 0 || domains.length > 0) {
    const either: string[] = [];
    if (entities.length > 0) either.push(`m.entity_id IN (${entities.map((entity) => p(entity)).join(", ")})`);
    for (const domain of domains) {
      // substr, not LIKE: a domain's "_" would be a LIKE wildcard.
      const length = p(domain.length + 1);
      either.push(`substr(m.entity_id, 1, ${length}) = ${p(`${domain}.`)}`);
    }
    clauses.push(`(${either.join(" OR ")})`);
  }
  if (after !== undefined) {
    // A row value, so that the database starts the index range at the position: with the equivalent
    // `a > ? OR (a = ? AND b > ?)` SQLite walked the index from its start on every page (quadratic:
    // 3.0 s against 0.6 s for 600,000 states, minutes at 5 million).
    const lastUpdated = p(after.lastUpdatedTs);
    clauses.push(`(s.last_updated_ts, s.state_id) > (${lastUpdated}, ${p(after.stateId)})`);
  }
  return { where: clauses.join(" AND "), params };
}
