/**
 * Picks the recorder database of an import and the configuration directory whose `.storage` holds
 * the registries:
 * - `import <config-dir>`: its `home-assistant_v2.db` (SQLite) and its `.storage`;
 * - `import <file.db>`: that SQLite file, and `.storage` beside it when there is one;
 * - `import <config-dir> --db-url postgresql://…`: the recorder on PostgreSQL, the registries from the
 *   directory's `.storage` (no SQLite file is looked for);
 * - `import --db-url postgresql://…` alone: the recorder without registries, so the points carry no
 *   `area`, `device_name` or `integration` tags (a notice says so).
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { RecorderDatabase, RecorderError, type RecorderSource } from "./recorder";
import { PostgresRecorder } from "./recorder-postgres";

const DATABASE_FILE = "home-assistant_v2.db";

/** The database and configuration directory a target names. */
export function locate(target: string): { database: string; configDir: string | undefined } {
  if (existsSync(target) && statSync(target).isDirectory()) {
    const database = join(target, DATABASE_FILE);
    if (!existsSync(database)) throw new RecorderError(`${target}: no ${DATABASE_FILE} in this directory`);
    return { database, configDir: target };
  }
  const beside = dirname(target);
  return { database: target, configDir: existsSync(join(beside, ".storage")) ? beside : undefined };
}

/** An opened recorder with what the command says about it. */
export interface OpenedSource {
  db: RecorderSource;
  /** The database as the command's output names it: the SQLite path as located, a server's URL without credentials. */
  database: string;
  configDir: string | undefined;
  /** A line for stderr before a real import, when there is something to know (no registries). */
  notice?: string;
}

/** Opens the recorder that `target` (a positional argument) and `dbUrl` (`--db-url`) name. */
export async function openSource(target: string | undefined, dbUrl: string | undefined): Promise<OpenedSource> {
  if (dbUrl === undefined) {
    if (target === undefined) throw new RecorderError("no recorder database given");
    const { database, configDir } = locate(target);
    return { db: RecorderDatabase.open(database), database, configDir };
  }
  if (target !== undefined && !(existsSync(target) && statSync(target).isDirectory()))
    throw new RecorderError(
      `${target}: with --db-url, the argument is Home Assistant's configuration directory (for the registries in its .storage)`,
    );
  const db = await PostgresRecorder.open(dbUrl);
  if (target !== undefined) return { db, database: db.name, configDir: target };
  return {
    db,
    database: db.name,
    configDir: undefined,
    notice:
      "import: no configuration directory given, so no registries: the points carry no area, device_name or integration tags " +
      "(give the directory too: import <config-dir> --db-url …)",
  };
}
