/**
 * `normalized_value`: one number per state, so rollups can average lights, doors and thermometers
 * alike. The table is part of the schema users query against; change it only by adding.
 *
 * | state                                   | normalized_value |
 * | --------------------------------------- | ---------------- |
 * | a decimal number (`21.5`, `-3`, `1e3`)  | that number      |
 * | `on` / `off`                            | 1 / 0            |
 * | `open` / `closed`                       | 1 / 0            |
 * | `home` / `not_home`                     | 1 / 0            |
 * | `locked` / `unlocked`                   | 1 / 0            |
 * | `detected` / `clear`                    | 1 / 0            |
 * | `true` / `false`                        | 1 / 0            |
 * | `yes` / `no`                            | 1 / 0            |
 * | `active` / `inactive`                   | 1 / 0            |
 * | `connected` / `disconnected`            | 1 / 0            |
 * | `wet` / `dry`                           | 1 / 0            |
 * | `occupied` / `unoccupied`               | 1 / 0            |
 * | `unknown`, `unavailable`, anything else | none             |
 *
 * The first word of each pair is 1. Words match case-insensitively. `NaN`, infinities and numbers
 * that overflow a double have no normalized value (InfluxDB cannot store them); the state itself is
 * always kept in `state_value`, so an outage (`unavailable`) stays visible.
 */

/** Word states and their numbers (the table above). */
export const STATE_WORDS: Readonly<Record<string, number>> = Object.freeze({
  on: 1,
  off: 0,
  open: 1,
  closed: 0,
  home: 1,
  not_home: 0,
  locked: 1,
  unlocked: 0,
  detected: 1,
  clear: 0,
  true: 1,
  false: 0,
  yes: 1,
  no: 0,
  active: 1,
  inactive: 0,
  connected: 1,
  disconnected: 0,
  wet: 1,
  dry: 0,
  occupied: 1,
  unoccupied: 0,
});

/** Plain decimal notation only: `Number()` would also read `0x1f`, `""` and `" 1 "`. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The normalized value of a state, or `undefined` when it has none. */
export function normalizeState(state: string): number | undefined {
  const word = state.toLowerCase();
  if (Object.hasOwn(STATE_WORDS, word)) return STATE_WORDS[word];
  if (!DECIMAL.test(state)) return undefined;
  const value = Number(state);
  return Number.isFinite(value) ? value : undefined;
}

/** Decimal text InfluxDB reads as the same float: no sign `+`, no leading zeros, no exponent. */
const PLAIN_DECIMAL = /^-?(?:0|[1-9]\d{0,14})(?:\.\d{1,15})?$/;

/**
 * `normalized_value` as line-protocol text, or `undefined`. A plain decimal state is written as it is:
 * formatting the parsed number back to text would cost more than the rest of the mapping.
 */
export function normalizedText(state: string): string | undefined {
  if (PLAIN_DECIMAL.test(state)) return state;
  const value = normalizeState(state);
  return value === undefined ? undefined : String(value);
}
