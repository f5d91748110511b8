/**
 * Builds small recorder databases for the import tests with the real schema-42 DDL (the fixture was
 * taken from a database Home Assistant 2024.3.3 created), filled the way the recorder fills them:
 * legacy text columns NULL, `last_changed_ts` NULL when equal to `last_updated_ts`, shared attributes
 * deduplicated in `state_attributes`, `old_state_id` pointing at the entity's previous row.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

export const SCHEMA_42 = readFileSync(join(__dirname, "fixtures", "recorder-schema-42.sql"), "utf8");

/** One state to record. */
export interface RecordedState {
  entityId: string;
  state: string;
  /** ISO time of last_updated. */
  updated: string;
  /** ISO time of last_changed, when it differs. */
  changed?: string;
  attributes?: Record<string, unknown>;
  /** Raw shared_attrs text instead of `attributes` (for broken rows). */
  rawAttributes?: string;
}

/** Creates `path` with the schema and the states (in the given order, which is the insertion order). */
export function createRecorder(
  path: string,
  states: readonly RecordedState[],
  options: { schemaVersion?: number; dropTable?: string } = {},
): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(SCHEMA_42);
  db.prepare("INSERT INTO schema_changes (schema_version, changed) VALUES (?, ?)").run(
    options.schemaVersion ?? 42,
    "2024-03-10 12:00:00",
  );
  const meta = new Map<string, number>();
  const attrs = new Map<string, number>();
  const last = new Map<string, number>();
  const insertMeta = db.prepare("INSERT INTO states_meta (entity_id) VALUES (?)");
  const insertAttrs = db.prepare("INSERT INTO state_attributes (hash, shared_attrs) VALUES (?, ?)");
  const insertState = db.prepare(
    "INSERT INTO states (state, last_updated_ts, last_changed_ts, old_state_id, attributes_id, origin_idx, metadata_id) VALUES (?, ?, ?, ?, ?, 0, ?)",
  );
  // One transaction: a commit per row would cost a WAL sync each, minutes for a large test database.
  db.exec("BEGIN");
  for (const state of states) {
    let metadataId = meta.get(state.entityId);
    if (metadataId === undefined) {
      metadataId = Number(insertMeta.run(state.entityId).lastInsertRowid);
      meta.set(state.entityId, metadataId);
    }
    const text = state.rawAttributes ?? JSON.stringify(state.attributes ?? {});
    let attributesId = attrs.get(text);
    if (attributesId === undefined) {
      attributesId = Number(insertAttrs.run(attrs.size + 1, text).lastInsertRowid);
      attrs.set(text, attributesId);
    }
    const updated = Date.parse(state.updated) / 1000 + fraction(state.updated);
    const changed = state.changed === undefined ? null : Date.parse(state.changed) / 1000 + fraction(state.changed);
    const id = Number(
      insertState.run(state.state, updated, changed, last.get(state.entityId) ?? null, attributesId, metadataId)
        .lastInsertRowid,
    );
    last.set(state.entityId, id);
  }
  db.exec("COMMIT");
  if (options.dropTable) db.exec(`PRAGMA foreign_keys = OFF; DROP TABLE ${options.dropTable}`);
  db.close();
}

/** The sub-millisecond part of an ISO time with microseconds (Date.parse keeps milliseconds only). */
function fraction(iso: string): number {
  const match = /\.(\d{4,6})/.exec(iso);
  if (!match) return 0;
  const micros = Number(match[1]!.padEnd(6, "0"));
  return (micros % 1000) / 1_000_000;
}

/** Writes registry store files into `<configDir>/.storage` as Home Assistant does. */
export function writeRegistries(
  configDir: string,
  lists: { areas: object[]; devices: object[]; entities: object[] },
  timeZone = "Europe/Berlin",
): void {
  const storage = join(configDir, ".storage");
  mkdirSync(storage, { recursive: true });
  const store = (key: string, data: object) =>
    writeFileSync(join(storage, key), JSON.stringify({ version: 1, minor_version: 1, key, data }));
  store("core.area_registry", { areas: lists.areas });
  store("core.device_registry", { devices: lists.devices, deleted_devices: [] });
  store("core.entity_registry", { entities: lists.entities, deleted_entities: [] });
  store("core.config", { time_zone: timeZone, latitude: 52.5, longitude: 13.4 });
}
