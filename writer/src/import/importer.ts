/**
 * Imports the recorder's states into InfluxDB through the writer's own pipeline (validate, filter,
 * map, route, spool, deliver), so an imported point is the point the live writer writes for that
 * state: each row becomes the `state_changed` data Home Assistant would have sent live
 * (`rowEvents.ts`).
 *
 * Rows are read in time order in bounded batches (two in flight: one being read and mapped while the
 * previous one's spool write becomes durable); after each batch is durable in the spool, its last
 * position `(last_updated_ts, state_id)` goes into a checkpoint file beside the spool
 * (`checkpoint.ts`), and a rerun continues after it. A rerun that reads a batch again (a crash between the spool and the checkpoint)
 * writes the same points again, which InfluxDB keeps as one.
 */
import type { WriterConfig } from "../config";
import type { Registries } from "../sources/haRegistries";
import type { EventSink } from "../sources/sink";
import { ImportCheckpoint } from "./checkpoint";
import type { ProgressReporter } from "./progress";
import type { RecorderSource, RecorderStateRow, StatePosition, StateSelection } from "./recorder";
import { AttributeCache, IsoTimes, rowToEvent } from "./rowEvents";

/** Source name passed to the pipeline (metrics and logs tell it apart from live events). */
export const IMPORT_SOURCE = "import";
/** Rows per batch: one spool write each; bounded memory whatever the size of the database. */
export const DEFAULT_BATCH_ROWS = 5_000;
/** Rejected rows reported one by one; beyond this only the counts grow. */
const MAX_REPORTED_ROWS = 100;

/** Per-entity counts of an import. */
export interface EntityCounts {
  rows: number;
  accepted: number;
  filtered: number;
  rejected: number;
}

/** What an import did. */
export interface ImportSummary {
  database: string;
  schemaVersion: number;
  /** Rows in the selection that were still to import when this run started. */
  rowsToRead: number;
  rowsRead: number;
  /** Rows durable in the spool (written to InfluxDB once delivered). */
  accepted: number;
  filtered: number;
  rejected: number;
  /** Rejected rows per reason. */
  rejectedReasons: Record<string, number>;
  entities: Record<string, EntityCounts>;
  /** Where this run started: after a checkpoint, or from the beginning. */
  resumed: boolean;
  /** True when a signal stopped the import before the end (the checkpoint says where). */
  interrupted: boolean;
  /** The checkpoint file (in the import's spool directory). */
  checkpoint: string;
  /** Where the checkpoint stands (a rerun of the selection continues after this row); absent while there is none. */
  position?: StatePosition;
  seconds: number;
}

/** Settings of an import. */
export interface ImportOptions {
  db: RecorderSource;
  registries: Registries;
  selection: StateSelection;
  /** The writer's include/exclude filters. */
  filters: WriterConfig["filters"];
  sink: EventSink;
  /** Directory of the checkpoint (the import's spool directory). */
  checkpointDir: string;
  /** Ignore an existing checkpoint and start from the beginning. */
  restart?: boolean;
  /** Creates the progress reporter for the rows still to read (after the checkpoint). */
  progress?: (rowsToRead: number) => ProgressReporter;
  signal?: AbortSignal;
  batchRows?: number;
}

function counts(summary: ImportSummary, entityId: string): EntityCounts {
  let entry = summary.entities[entityId];
  if (entry === undefined) {
    entry = { rows: 0, accepted: 0, filtered: 0, rejected: 0 };
    summary.entities[entityId] = entry;
  }
  return entry;
}

/** Runs the import; resolves when every row read is durable in the spool (not yet delivered). */
export async function importStates(options: ImportOptions): Promise<ImportSummary> {
  const { db, selection } = options;
  const started = Date.now();
  const checkpoint = new ImportCheckpoint(options.checkpointDir, db.name, selection);
  const resumeFrom = options.restart ? undefined : await checkpoint.saved();
  let position: StatePosition | undefined = resumeFrom;

  const summary: ImportSummary = {
    database: checkpoint.database,
    schemaVersion: db.schemaVersion,
    rowsToRead: await db.countStates(selection, position),
    rowsRead: 0,
    accepted: 0,
    filtered: 0,
    rejected: 0,
    rejectedReasons: {},
    entities: {},
    resumed: resumeFrom !== undefined,
    interrupted: false,
    checkpoint: checkpoint.path,
    ...(position !== undefined ? { position } : {}),
    seconds: 0,
  };
  const progress = options.progress?.(summary.rowsToRead);
  let reported = 0;
  const reject = (row: RecorderStateRow, reason: string, message: string) => {
    summary.rejected += 1;
    summary.rejectedReasons[reason] = (summary.rejectedReasons[reason] ?? 0) + 1;
    counts(summary, row.entityId).rejected += 1;
    reported += 1;
    if (reported <= MAX_REPORTED_ROWS)
      progress?.note(`state_id ${row.stateId} (${row.entityId}): ${reason}: ${message}`);
    else if (reported === MAX_REPORTED_ROWS + 1) progress?.note("more rows are rejected; only their count is reported");
  };
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  const attributes = new AttributeCache(options.registries);
  const times = new IsoTimes();
  let inFlight: Promise<void> | undefined;

  for (;;) {
    if (options.signal?.aborted) {
      summary.interrupted = true;
      break;
    }
    const rows = await db.readStates(selection, position, batchRows);
    if (rows.length === 0) break;
    const events: object[] = [];
    const eventRows: RecorderStateRow[] = [];
    for (const row of rows) {
      summary.rowsRead += 1;
      counts(summary, row.entityId).rows += 1;
      const converted = rowToEvent(row, attributes, times);
      if (!converted.ok) {
        reject(row, converted.reason, converted.message);
        continue;
      }
      events.push(converted.event);
      eventRows.push(row);
    }
    const last = rows[rows.length - 1];
    position = { lastUpdatedTs: last.lastUpdatedTs, stateId: last.stateId };
    const batchPosition = position;
    const submitted = events.length > 0 ? options.sink.submit(events, IMPORT_SOURCE) : Promise.resolve([]);
    const previous = inFlight;
    inFlight = (async () => {
      const results = await submitted;
      // Checkpoints advance in batch order, whichever submission resolves first.
      await previous;
      for (const result of results) {
        const row = eventRows[result.index];
        if (result.status === "accepted") {
          summary.accepted += 1;
          counts(summary, row.entityId).accepted += 1;
        } else if (result.status === "filtered") {
          summary.filtered += 1;
          counts(summary, row.entityId).filtered += 1;
        } else reject(row, result.reason ?? "rejected", result.message ?? "");
      }
      // The batch (and every one before it) is durable in the spool now: a rerun may continue after it.
      await checkpoint.save(batchPosition, false);
      summary.position = batchPosition;
      progress?.update(summary.rowsRead);
    })();
    // Awaited below or in the next turn; a failure must not count as unhandled meanwhile.
    inFlight.catch(() => {});
    // Two batches in flight: the next one is read and mapped while this one's spool write becomes durable.
    await previous;
  }
  await inFlight;
  if (!summary.interrupted) {
    await checkpoint.save(position ?? { lastUpdatedTs: 0, stateId: 0 }, true);
  }
  progress?.finish(summary.rowsRead);
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}
