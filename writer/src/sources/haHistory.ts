/**
 * Backfill from Home Assistant's recorder: after every (re)connect the writer asks
 * `history/history_during_period` for the time it was not subscribed, so changes made meanwhile are
 * written as they happened instead of surviving only as the last state of the snapshot.
 *
 * Home Assistant answers in its compressed form: `{ [entity_id]: [{ s, a, lu, lc? }] }` with times as
 * float seconds since the epoch (`lc` only when it differs from `lu`). They are turned back into
 * `state_changed` data with ISO times of microsecond precision, the precision of live events, so a
 * change seen live and again in the history is the same event to the pipeline.
 */
import { z } from "zod";

const CompressedState = z.looseObject({
  s: z.string(),
  a: z.record(z.string(), z.unknown()).optional(),
  lu: z.number(),
  lc: z.number().optional(),
});

/** The result of `history/history_during_period`. */
export const HistoryResultSchema = z.record(z.string(), z.array(CompressedState));

/** A state as Home Assistant sends it in events and `get_states`. */
export interface HaStateObject {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
  last_changed: string;
  last_updated: string;
}

/** The history request for `entityIds` from `startUs` to `endUs` (microseconds), every change included. */
export function historyRequest(entityIds: readonly string[], startUs: number, endUs: number): Record<string, unknown> {
  return {
    type: "history/history_during_period",
    start_time: isoFromMicros(startUs),
    end_time: isoFromMicros(endUs),
    entity_ids: entityIds,
    include_start_time_state: false,
    significant_changes_only: false,
    minimal_response: false,
    no_attributes: false,
  };
}

/**
 * The recorded states as `state_changed` data (`old_state: null`: the pipeline knows the previous
 * state), in time order; at equal times weather entities come first, so the weather context of that
 * instant is known before the other states are mapped.
 */
export function historyEvents(result: unknown): { entity_id: string; old_state: null; new_state: HaStateObject }[] {
  const parsed = HistoryResultSchema.parse(result);
  const events: { entity_id: string; old_state: null; new_state: HaStateObject; at: number }[] = [];
  for (const [entityId, states] of Object.entries(parsed)) {
    for (const state of states) {
      const updatedUs = secondsToMicros(state.lu);
      const changedUs = state.lc === undefined ? updatedUs : secondsToMicros(state.lc);
      events.push({
        entity_id: entityId,
        old_state: null,
        new_state: {
          entity_id: entityId,
          state: state.s,
          attributes: state.a ?? {},
          last_changed: isoFromMicros(changedUs),
          last_updated: isoFromMicros(updatedUs),
        },
        at: updatedUs,
      });
    }
  }
  events.sort((a, b) => a.at - b.at || weatherFirst(a.entity_id, b.entity_id));
  return events.map(({ at: _at, ...event }) => event);
}

/** Orders weather entities before the others (for the snapshot and for equal history times). */
export function weatherFirst(a: string, b: string): number {
  return Number(!a.startsWith("weather.")) - Number(!b.startsWith("weather."));
}

/** Float seconds (Python's `timestamp()`) to whole microseconds; doubles near today are exact to ~0.2 µs. */
export function secondsToMicros(seconds: number): number {
  return Math.round(seconds * 1_000_000);
}

/** `2024-03-10T12:00:00.123456+00:00`, as Python's `isoformat()` writes a UTC time. */
export function isoFromMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const micros = us - Math.floor(us / 1_000_000) * 1_000_000;
  return `${new Date(ms).toISOString().slice(0, 19)}.${String(micros).padStart(6, "0")}+00:00`;
}
