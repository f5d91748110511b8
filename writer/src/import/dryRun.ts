/** `import --dry-run`: the rows per entity a run would read and whether the writer's filters keep them; writes nothing. */
import type { WriterConfig } from "../config";
import { EntityFilter } from "../filters";
import type { RecorderSource, StateSelection } from "./recorder";

/** Rows per entity and whether the writer's filters keep the entity. */
export async function dryRun(
  db: RecorderSource,
  selection: StateSelection,
  filters: WriterConfig["filters"],
): Promise<{ entity: string; rows: number; filtered: boolean }[]> {
  const filter = new EntityFilter(filters);
  return [...(await db.countPerEntity(selection))].map(([entity, rows]) => ({
    entity,
    rows,
    filtered: !filter.passes(entity, entity.slice(0, entity.indexOf("."))),
  }));
}

/** What `--dry-run` prints on stdout: one line per entity and a total, or one JSON object with `json`. */
export async function dryRunOutput(
  db: RecorderSource,
  database: string,
  selection: StateSelection,
  filters: WriterConfig["filters"],
  json: boolean,
): Promise<string> {
  const rows = await dryRun(db, selection, filters);
  const total = rows.reduce((sum, row) => sum + row.rows, 0);
  const kept = rows.filter((row) => !row.filtered).reduce((sum, row) => sum + row.rows, 0);
  if (json)
    return `${JSON.stringify({ database, schemaVersion: db.schemaVersion, rows: total, rowsKept: kept, entities: rows })}\n`;
  let text = "";
  for (const row of rows) text += `${row.entity}\t${row.rows}${row.filtered ? "\t(excluded by the filters)" : ""}\n`;
  return `${text}${total} rows of ${rows.length} entities in ${database} (schema ${db.schemaVersion}); ${kept} would be imported\n`;
}
