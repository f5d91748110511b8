/**
 * What the writer remembers per entity between events — its last state, when that state began, the
 * last time it was written with — from which the event processor derives `previous_state`,
 * `duration_seconds`, repeats and timestamp nudges; and the file `entities.json` that keeps it (with
 * the latest weather reading) across restarts.
 *
 * Memory changes in two steps so that it only ever holds what is durable. The processor computes a
 * batch's `MemoryDelta` against the memory without changing it; the pipeline `hold`s the delta while
 * the batch's spool append is in flight and then `settle`s it: committed when the append succeeded,
 * dropped when it failed, so a failed append leaves every other entity's memory (earlier batches'
 * included) as it was.
 *
 * Held deltas are part of what `get` answers: a batch computed while an earlier one is still being
 * appended sees that batch's changes, as if it had been committed already. Batches are computed in
 * the order they are appended (the pipeline never awaits between the two), so each builds on the one
 * before. If an earlier batch's append then fails, later batches keep what they computed: their lines
 * are what was written last, and their delta says so. Deltas are committed in the order they were
 * held, so a late success never overwrites a newer state with an older one.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { WeatherReading } from "./events";
import type { Logger } from "./logger";

/** What the writer remembers about one entity. */
export interface EntityState {
  /** Event time of the last event, as it arrived. */
  readonly lastEventUs: number;
  /** Timestamp the last event was written with (may be moved forward). */
  readonly lastWrittenUs: number;
  /** Whether the last event carried its own time. */
  readonly lastHadTime: boolean;
  /** Its state. */
  readonly state: string;
  /** When that state began. */
  readonly changedUs: number;
}

/** What one batch changes: the new state of each entity it touched. */
export type MemoryDelta = Map<string, EntityState>;

/** Read access, all the processor gets. */
export interface MemoryView {
  get(entityId: string): EntityState | undefined;
}

/** A delta between `hold` and `settle`. */
export interface HeldDelta {
  readonly delta: MemoryDelta;
  /** True once its append succeeded; it is committed when every delta held before it has settled. */
  durable: boolean;
}

const MAX_REMEMBERED_ENTITIES = 200_000;

/** The per-entity memory: committed states plus the deltas of appends in flight. */
export class EntityMemory implements MemoryView {
  private readonly committed = new Map<string, EntityState>();
  /** Held deltas in the order they were held (oldest first), failed ones removed. */
  private readonly held: HeldDelta[] = [];

  constructor(
    /** Called whenever committed states change (to save the file). */
    private readonly onChange: () => void = () => {},
    private readonly maxEntities = MAX_REMEMBERED_ENTITIES,
  ) {}

  /** The entity's latest state: from the newest held delta that has it, else the committed one. */
  get(entityId: string): EntityState | undefined {
    for (let index = this.held.length - 1; index >= 0; index--) {
      const state = this.held[index]!.delta.get(entityId);
      if (state !== undefined) return state;
    }
    return this.committed.get(entityId);
  }

  /** Makes a computed delta visible to `get` until it is settled. */
  hold(delta: MemoryDelta): HeldDelta {
    const held: HeldDelta = { delta, durable: false };
    if (delta.size > 0) this.held.push(held);
    return held;
  }

  /** Commits the delta (`durable`: its append succeeded) or drops it (the append failed). */
  settle(held: HeldDelta, durable: boolean): void {
    if (durable) held.durable = true;
    else {
      const index = this.held.indexOf(held);
      if (index >= 0) this.held.splice(index, 1);
    }
    let changed = false;
    while (this.held.length > 0 && this.held[0]!.durable) {
      this.apply(this.held.shift()!.delta);
      changed = true;
    }
    if (changed) this.onChange();
  }

  /** Sets a committed state, as read from the file. */
  restore(entityId: string, state: EntityState): void {
    this.committed.set(entityId, state);
  }

  /** The committed states (what the file keeps). */
  entries(): IterableIterator<[string, EntityState]> {
    return this.committed.entries();
  }

  private apply(delta: MemoryDelta): void {
    for (const [entityId, state] of delta) {
      // The oldest remembered entity makes room: it only loses its previous_state and duration once.
      if (this.committed.size >= this.maxEntities && !this.committed.has(entityId))
        this.committed.delete(this.committed.keys().next().value!);
      this.committed.set(entityId, state);
    }
  }
}

/** The entity memory is saved at most this often (and on stop). */
const MEMORY_SAVE_MS = 1000;
const MEMORY_FILE = "entities.json";

const WeatherSchema = z.object({
  temperature: z.number().optional(),
  humidity: z.number().optional(),
  pressure: z.number().optional(),
  condition: z.string().optional(),
});
/** `entities.json`: per entity `[lastEventUs, lastWrittenUs, lastHadTime, state, changedUs]`. */
const MemoryFileSchema = z.object({
  version: z.literal(1),
  entities: z.record(z.string(), z.tuple([z.number(), z.number(), z.boolean(), z.string(), z.number()])),
  weather: z.array(z.object({ atUs: z.number(), reading: WeatherSchema.optional() })).default([]),
});

/** A weather reading as the file keeps it. */
export interface WeatherEntry {
  atUs: number;
  reading: WeatherReading | undefined;
}

/** What the file holds. */
export interface MemorySnapshot {
  entities: Iterable<[string, EntityState]>;
  weather: WeatherEntry[];
}

/**
 * `entities.json` beside the spool: read at start, written a second after a change and on stop, to
 * a temporary file renamed over the old one, so that a crash leaves one whole file.
 */
export class MemoryFile {
  private readonly file: string;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    dir: string,
    private readonly logger: Logger,
    /** What to write, taken when the save happens. */
    private readonly snapshot: () => MemorySnapshot,
  ) {
    this.file = join(dir, MEMORY_FILE);
  }

  /** The file's contents; empty when there is none, and (with a warning) when it is unreadable. */
  async load(): Promise<{ entities: [string, EntityState][]; weather: WeatherEntry[] }> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch {
      return { entities: [], weather: [] };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = MemoryFileSchema.safeParse(json);
    if (!parsed.success) {
      this.logger.warn(
        { file: this.file },
        "the entity memory is unreadable; previous_state and duration_seconds start afresh",
      );
      return { entities: [], weather: [] };
    }
    const entities = Object.entries(parsed.data.entities).map(
      ([entityId, [lastEventUs, lastWrittenUs, lastHadTime, state, changedUs]]): [string, EntityState] => [
        entityId,
        { lastEventUs, lastWrittenUs, lastHadTime, state, changedUs },
      ],
    );
    return { entities, weather: parsed.data.weather.map(({ atUs, reading }) => ({ atUs, reading })) };
  }

  /** Schedules a save within `MEMORY_SAVE_MS`. */
  changed(): void {
    this.dirty = true;
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.saving = this.saving.then(() => this.save());
    }, MEMORY_SAVE_MS);
    this.timer.unref();
  }

  /** Cancels the scheduled save and saves now (after any save in progress). */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.saving;
    await this.save();
  }

  private async save(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const { entities, weather } = this.snapshot();
    const json: Record<string, [number, number, boolean, string, number]> = {};
    for (const [entityId, m] of entities)
      json[entityId] = [m.lastEventUs, m.lastWrittenUs, m.lastHadTime, m.state, m.changedUs];
    try {
      await writeFile(`${this.file}.tmp`, JSON.stringify({ version: 1, entities: json, weather }));
      await rename(`${this.file}.tmp`, this.file);
    } catch (error) {
      this.dirty = true;
      this.logger.warn({ err: error, file: this.file }, "could not save the entity memory");
    }
  }
}
