/**
 * InfluxDB line protocol, written by hand. Why not the client library's `Point`: it allocates a Point,
 * a tag map and a field map per event and escapes with a regular expression per value; at the target
 * of 150k events/s that alone costs more than the rest of the pipeline. Here a line is a few string
 * concatenations, and values without special characters (nearly all) skip escaping after one scan.
 *
 * Escaping, per the line protocol reference:
 * - measurement: comma and space;
 * - tag keys, tag values and field keys: comma, equals sign and space;
 * - string field values: double quote and backslash.
 * Line protocol cannot carry a newline in names and tag values, and this writer's spool and batch
 * splitting count lines by `\n`: so `\n` and `\r` become the two characters `\n` / `\r` in string
 * field values and an (escaped) space in names and tag values.
 *
 * Backslashes in names and tag values, as InfluxDB 2.7 reads them (checked against a real server):
 * they are stored literally (`a\\b` stays `a\\b`); only `\,`, `\=` and `\ ` are unescaped; and a value
 * may not end in one. So backslashes are written as they are, a run of them right before an escaped
 * character is made even (one backslash more when odd, the only change to the stored value), and
 * trailing backslashes are dropped.
 */

/** Escapes a measurement name. */
export function escapeMeasurement(name: string): string {
  return needsNameEscape(name, false) ? escapeName(name, false) : name;
}

/** Escapes a tag key, a tag value or a field key. */
export function escapeKey(value: string): string {
  return needsNameEscape(value, true) ? escapeName(value, true) : value;
}

/** A string field value, quoted and escaped. */
export function quoteString(value: string): string {
  let needs = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34 || c === 92 || c === 10 || c === 13) {
      needs = true;
      break;
    }
  }
  if (!needs) return `"${value}"`;
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34) out += '\\"';
    else if (c === 92) out += "\\\\";
    else if (c === 10) out += "\\\\n";
    else if (c === 13) out += "\\\\r";
    else out += value[i];
  }
  return `${out}"`;
}

/**
 * A float field value. Every number is written as a float (no `i` suffix) so a field never changes
 * type between shards; the caller drops NaN and infinities first.
 */
export function formatFloat(value: number): string {
  return String(value);
}

function needsNameEscape(value: string, escapeEquals: boolean): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 44 || c === 32 || c === 92 || c === 10 || c === 13 || (escapeEquals && c === 61)) return true;
  }
  return false;
}

function escapeName(value: string, escapeEquals: boolean): string {
  let out = "";
  // A name or tag value cannot end in a backslash (InfluxDB refuses the line): trailing ones are dropped.
  let length = value.length;
  while (length > 0 && value.charCodeAt(length - 1) === 92) length--;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c === 44) out += "\\,";
    else if (c === 32 || c === 10 || c === 13) out += "\\ ";
    else if (escapeEquals && c === 61) out += "\\=";
    else if (c === 92) {
      // InfluxDB reads backslashes pairwise when scanning and keeps them literally: a run before an
      // escaped character must be even, so that character's own escape stays intact.
      let run = 1;
      while (value.charCodeAt(i + run) === 92) run++;
      const next = value.charCodeAt(i + run);
      const beforeEscaped = next === 44 || next === 32 || next === 10 || next === 13 || (escapeEquals && next === 61);
      out += "\\".repeat(beforeEscaped && run % 2 === 1 ? run + 1 : run);
      i += run - 1;
    } else out += value[i];
  }
  return out;
}

/**
 * Integer timestamps as text. `String()` of a 16-digit number takes the slow double-to-text path;
 * consecutive events mostly share their second, so its digits are kept and only the six-digit
 * fraction is formatted (about a third of the cost).
 */
export class TimestampFormatter {
  private second = Number.NaN;
  private secondText = "";

  /** `micros` (an integer) as decimal text. */
  format(micros: number): string {
    if (micros < 1_000_000) return String(micros);
    const second = Math.floor(micros / 1_000_000);
    if (second !== this.second) {
      this.second = second;
      this.secondText = String(second);
    }
    const fraction = micros - second * 1_000_000;
    return (
      this.secondText +
      FRACTION_PADDING[
        fraction < 10
          ? 5
          : fraction < 100
            ? 4
            : fraction < 1000
              ? 3
              : fraction < 10_000
                ? 2
                : fraction < 100_000
                  ? 1
                  : 0
      ] +
      fraction
    );
  }
}

const FRACTION_PADDING = ["", "0", "00", "000", "0000", "00000"] as const;
