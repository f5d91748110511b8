/**
 * The import's checkpoint: a file beside the import's spool that names the last row of the last
 * batch durable in the spool, for one database and one selection. A rerun of the same selection
 * continues after it; another database or selection (or an unreadable file) starts from the
 * beginning. The file is replaced by a rename, so a crash leaves the old one or the new one.
 */
import { mkdirSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { StatePosition, StateSelection } from "./recorder";

/** The checkpoint's file name in the import's spool directory. */
export const CHECKPOINT_FILE = "import-checkpoint.json";

const CheckpointSchema = z.object({
  version: z.literal(1),
  database: z.string(),
  selection: z.string(),
  position: z.object({ lastUpdatedTs: z.number(), stateId: z.number() }),
  complete: z.boolean(),
});
type Checkpoint = z.infer<typeof CheckpointSchema>;

function selectionKey(selection: StateSelection): string {
  return JSON.stringify({
    startTs: selection.startTs ?? null,
    stopTs: selection.stopTs ?? null,
    entities: [...(selection.entities ?? [])].sort(),
    domains: [...(selection.domains ?? [])].sort(),
  });
}

async function readCheckpoint(path: string): Promise<Checkpoint | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = CheckpointSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The checkpoint of one database's selection, in the directory given (created when missing). */
export class ImportCheckpoint {
  /** The checkpoint file. */
  readonly path: string;
  /** The database as its source names it (`RecorderSource.name`: the SQLite file's absolute path, a server's URL without credentials). */
  readonly database: string;
  private readonly selection: string;

  constructor(dir: string, database: string, selection: StateSelection) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, CHECKPOINT_FILE);
    this.database = database;
    this.selection = selectionKey(selection);
  }

  /** Where an earlier run of this database and selection stopped; undefined when there is no such run. */
  async saved(): Promise<StatePosition | undefined> {
    const previous = await readCheckpoint(this.path);
    return previous !== undefined && previous.database === this.database && previous.selection === this.selection
      ? previous.position
      : undefined;
  }

  /** Records that every row up to `position` is durable in the spool (`complete`: the selection is done). */
  async save(position: StatePosition, complete: boolean): Promise<void> {
    const checkpoint: Checkpoint = {
      version: 1,
      database: this.database,
      selection: this.selection,
      position,
      complete,
    };
    await writeFile(`${this.path}.tmp`, JSON.stringify(checkpoint));
    await rename(`${this.path}.tmp`, this.path);
  }
}
