/**
 * Imports the recorder's states into InfluxDB through the writer's own pipeline (validate, filter,
 * map, route, spool, deliver), so an imported point is the point the live writer writes for that
 * state: each row becomes the `state_changed` data Home Assistant would have sent live, with the
 * registries' enrichment of the live source, `last_updated`/`last_changed` at microsecond precision,
 * and `old_state` from the row named by `old_state_id` (so `previous_state` and `duration_seconds`
 * are those of the live event).
 *
 * Rows are read in time order in bounded batches (two in flight: one being read and mapped while the
 * previous one's spool write becomes durable); after each batch is durable in the spool, its last
 * position `(last_updated_ts, state_id)` goes into a checkpoint file beside the spool, and a rerun
 * continues after it. A rerun that reads a batch again (a crash between the spool and the checkpoint)
 * writes the same points again, which InfluxDB keeps as one.
 */

import { mkdirSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import type { WriterConfig } from "../config";
import { EntityFilter } from "../filters";
import { secondsToMicros } from "../sources/haHistory";
import type { Registries } from "../sources/haRegistries";
import type { EventSink } from "../sources/sink";
import type { ProgressReporter } from "./progress";
import type { RecorderDatabase, RecorderStateRow, StatePosition, StateSelection } from "./recorder";
import { enrichAttributes } from "./storage";

/** Source name passed to the pipeline (metrics and logs tell it apart from live events). */
export const IMPORT_SOURCE = "import";
/** Rows per batch: one spool write each; bounded memory whatever the size of the database. */
export const DEFAULT_BATCH_ROWS = 5_000;
/** The checkpoint's file name in the import's spool directory. */
export const CHECKPOINT_FILE = "import-checkpoint.json";
/** Rejected rows reported one by one; beyond this only the counts grow. */
const MAX_REPORTED_ROWS = 100;

const CheckpointSchema = z.object({
  version: z.literal(1),
  database: z.string(),
  selection: z.string(),
  position: z.object({ lastUpdatedTs: z.number(), stateId: z.number() }),
  complete: z.boolean(),
});
type Checkpoint = z.infer<typeof CheckpointSchema>;

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
  db: RecorderDatabase;
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

/**
 * Enriched attributes per entity and attributes text. The recorder stores each distinct attributes
 * JSON once and most rows of an entity share a few of them, so parsing each row's text again is most
 * of the cost of a row; the pipeline only reads the objects.
 */
export class AttributeCache {
  private readonly entries = new Map<string, Map<string, Readonly<Record<string, unknown>>>>();
  private size = 0;

  constructor(
    private readonly registries: Registries,
    private readonly maxEntries = 50_000,
  ) {}

  /** The enriched attributes of `text` for `entityId`; throws `SyntaxError`/`TypeError` for text that is not a JSON object. */
  get(entityId: string, text: string | null): Readonly<Record<string, unknown>> {
    const key = text ?? "";
    let perEntity = this.entries.get(entityId);
    const hit = perEntity?.get(key);
    if (hit !== undefined) return hit;
    let attributes: Record<string, unknown> = {};
    if (key !== "") {
      const parsed: unknown = JSON.parse(key);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
        throw new TypeError("state_attributes.shared_attrs is not a JSON object");
      attributes = parsed as Record<string, unknown>;
    }
    const enriched = Object.freeze(enrichAttributes(attributes, entityId, this.registries));
    if (this.size >= this.maxEntries) {
      this.entries.clear();
      this.size = 0;
    }
    if (perEntity === undefined || !this.entries.has(entityId)) {
      perEntity = new Map();
      this.entries.set(entityId, perEntity);
    }
    perEntity.set(key, enriched);
    this.size += 1;
    return enriched;
  }
}

/**
 * `isoFromMicros` of the history backfill (`2024-03-10T12:00:00.123456+00:00`, Python's UTC
 * `isoformat()`), with the text of the last two whole seconds kept: rows come in time order, so a
 * row's own times fall in a second just formatted and its old state's in another one (two slots, or
 * they would push each other out on every row); `Date#toISOString` was the largest single cost of a
 * row.
 */
export class IsoTimes {
  private seconds: [number, number] = [Number.NaN, Number.NaN];
  private prefixes: [string, string] = ["", ""];
  /** The slot to overwrite on the next miss (the one used less recently). */
  private older = 0;

  format(seconds: number): string {
    const us = secondsToMicros(seconds);
    const second = Math.floor(us / 1_000_000);
    let slot = this.seconds[0] === second ? 0 : this.seconds[1] === second ? 1 : -1;
    if (slot === -1) {
      slot = this.older;
      this.seconds[slot] = second;
      this.prefixes[slot] = new Date(second * 1000).toISOString().slice(0, 19);
    }
    this.older = 1 - slot;
    return `${this.prefixes[slot]}.${String(us - second * 1_000_000).padStart(6, "0")}+00:00`;
  }
}

/** The `state_changed` data Home Assistant sends live for a recorded row, or why the row cannot be one. */
export function rowToEvent(
  row: RecorderStateRow,
  cache: AttributeCache,
  times: IsoTimes = new IsoTimes(),
): { ok: true; event: object } | { ok: false; reason: string; message: string } {
  let attributes: Readonly<Record<string, unknown>>;
  try {
    attributes = cache.get(row.entityId, row.attributes);
  } catch (error) {
    const message =
      error instanceof SyntaxError
        ? `state_attributes.shared_attrs is not JSON: ${error.message}`
        : (error as Error).message;
    return { ok: false, reason: "invalid_attributes", message };
  }
  const newState = {
    entity_id: row.entityId,
    state: row.state,
    attributes,
    last_changed: times.format(row.lastChangedTs),
    last_updated: times.format(row.lastUpdatedTs),
  };
  // Only `state` and `last_changed` of the old state reach the point (previous_state, duration_seconds).
  const oldState =
    row.old === undefined
      ? null
      : {
          entity_id: row.entityId,
          state: row.old.state,
          attributes: {},
          last_changed: times.format(row.old.lastChangedTs),
        };
  return { ok: true, event: { entity_id: row.entityId, old_state: oldState, new_state: newState } };
}

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

async function writeCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(checkpoint));
  await rename(`${path}.tmp`, path);
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
  mkdirSync(options.checkpointDir, { recursive: true });
  const checkpointPath = join(options.checkpointDir, CHECKPOINT_FILE);
  const database = resolve(db.path);
  const key = selectionKey(selection);
  const previous = options.restart ? undefined : await readCheckpoint(checkpointPath);
  const resumeFrom =
    previous !== undefined && previous.database === database && previous.selection === key ? previous : undefined;
  let position: StatePosition | undefined = resumeFrom?.position;

  const summary: ImportSummary = {
    database,
    schemaVersion: db.schemaVersion,
    rowsToRead: db.countStates(selection, position),
    rowsRead: 0,
    accepted: 0,
    filtered: 0,
    rejected: 0,
    rejectedReasons: {},
    entities: {},
    resumed: resumeFrom !== undefined,
    interrupted: false,
    checkpoint: checkpointPath,
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
    const rows = db.readStates(selection, position, batchRows);
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
      await writeCheckpoint(checkpointPath, {
        version: 1,
        database,
        selection: key,
        position: batchPosition,
        complete: false,
      });
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
    await writeCheckpoint(checkpointPath, {
      version: 1,
      database,
      selection: key,
      position: position ?? { lastUpdatedTs: 0, stateId: 0 },
      complete: true,
    });
  }
  progress?.finish(summary.rowsRead);
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

/** What `--dry-run` prints: rows per entity and whether the writer's filters keep the entity. */
export function dryRun(
  db: RecorderDatabase,
  selection: StateSelection,
  filters: ImportOptions["filters"],
): { entity: string; rows: number; filtered: boolean }[] {
  const filter = new EntityFilter(filters);
  return [...db.countPerEntity(selection)].map(([entity, rows]) => ({
    entity,
    rows,
    filtered: !filter.passes(entity, entity.slice(0, entity.indexOf("."))),
  }));
}
