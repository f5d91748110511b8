/**
 * A recorder row as the `state_changed` data Home Assistant would have sent live: the registries'
 * enrichment of the live source, `last_updated`/`last_changed` at microsecond precision in Python's
 * `isoformat()`, and `old_state` from the row named by `old_state_id` (so `previous_state` and
 * `duration_seconds` are those of the live event). The two caches here are why a row costs a few
 * microseconds: most rows of an entity share a few attributes texts, and rows come in time order.
 */
import { secondsToMicros } from "../sources/haHistory";
import type { Registries } from "../sources/haRegistries";
import type { RecorderStateRow } from "./recorder";
import { enrichAttributes } from "./storage";

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
