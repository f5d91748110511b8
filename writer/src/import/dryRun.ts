/** `import --dry-run`: the rows per entity a run would read and whether the writer's filters keep them; writes nothing. */
import type { WriterConfig } from "../config";
import { EntityFilter } from "../filters";
import type { RecorderDatabase, StateSelection } from "./recorder";

/** Rows per entity and whether the writer's filters keep the entity. */
export function dryRun(
  db: RecorderDatabase,
  selection: StateSelection,
  filters: WriterConfig["filters"],
): { entity: string; rows: number; filtered: boolean }[] {
  const filter = new EntityFilter(filters);
  return [...db.countPerEntity(selection)].map(([entity, rows]) => ({
    entity,
    rows,
    filtered: !filter.passes(entity, entity.slice(0, entity.indexOf("."))),
  }));
}

/** What `--dry-run` prints on stdout: one line per entity and a total, or one JSON object with `json`. */
export function dryRunOutput(
  db: RecorderDatabase,
  database: string,
  selection: StateSelection,
  filters: WriterConfig["filters"],
  json: boolean,
): string {
  const rows = dryRun(db, selection, filters);
  const total = rows.reduce((sum, row) => sum + row.rows, 0);
  const kept = rows.filter((row) => !row.filtered).reduce((sum, row) => sum + row.rows, 0);
  if (json)
    return `${JSON.stringify({ database, schemaVersion: db.schemaVersion, rows: total, rowsKept: kept, entities: rows })}\n`;
  let text = "";
  for (const row of rows) text += `${row.entity}\t${row.rows}${row.filtered ? "\t(excluded by the filters)" : ""}\n`;
  return `${text}${total} rows of ${rows.length} entities in ${database} (schema ${db.schemaVersion}); ${kept} would be imported\n`;
}
