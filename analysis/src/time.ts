// Local calendar arithmetic in an IANA time zone, from the platform's Intl data: what hour, weekday and
// day an instant is in a zone, and where local hours and days begin. No library: Intl answers all of it.
// The writer's `ZoneClock` (timezone.ts) reads the same Intl offsets but is not imported here: the
// writer's package exports TypeScript sources (the Pulumi program loads them through ts-node), and the
// built `ha-influx-analyze` (`node dist/cli.js`) cannot load those.
import { UserError } from "./errors";

/** The local calendar position of an instant. */
export interface LocalParts {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  /** 0-23 */
  hour: number;
  minute: number;
  second: number;
  /** 0 = Monday ... 6 = Sunday (ISO) */
  weekday: number;
}

const WEEKDAY_INDEX: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      weekday: "short",
    });
    formatters.set(timeZone, format);
  }
  return format;
}

/** True for a zone the platform knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export function localParts(ms: number, timeZone: string): LocalParts {
  const parts: Partial<Record<Intl.DateTimeFormatPartTypes, string>> = {};
  for (const part of formatter(timeZone).formatToParts(ms)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAY_INDEX[parts.weekday ?? ""],
  };
}

/** Milliseconds the zone is ahead of UTC at `ms`. */
function offsetMs(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1_000) * 1_000;
}

/** The instant of local midnight starting the local day `ms` is in. */
export function startOfLocalDay(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone);
  return localMidnight(p.year, p.month, p.day, timeZone);
}

/** The instant of local midnight of a calendar date (the first instant of that date, across clock changes). */
export function localMidnight(year: number, month: number, day: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day);
  // Two rounds settle the offset unless midnight itself is skipped; then the day starts at the change.
  let guess = wall - offsetMs(wall, timeZone);
  guess = wall - offsetMs(guess, timeZone);
  const p = localParts(guess, timeZone);
  if (p.day !== day) guess += 3_600_000;
  return guess;
}

/** The start of the local hour `ms` is in (hours of half-hour zones start at :30 UTC). */
export function startOfLocalHour(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone);
  return Math.floor(ms / 1_000) * 1_000 - (p.minute * 60 + p.second) * 1_000;
}

/** ISO 8601 week number (1-53) of a local calendar date. */
export function isoWeek(year: number, month: number, day: number): number {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = (date.getUTCDay() + 6) % 7;
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week decides its year
  const firstThursday = new Date(Date.UTC(date.getUTCFullYear(), 0, 4));
  return (
    1 +
    Math.round(
      ((date.getTime() - firstThursday.getTime()) / 86_400_000 - 3 + ((firstThursday.getUTCDay() + 6) % 7)) / 7,
    )
  );
}

const RELATIVE = /^-(\d+)(s|m|h|d|w|y)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 } as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * A `--start`/`--stop` value: `now`, relative like `-30d` (s, m, h, d, w, y = 365 d), an RFC 3339
 * instant, or a bare date (local midnight in the zone).
 */
export function parseInstant(text: string, flag: string, nowMs: number, timeZone: string): number {
  if (text === "now") return nowMs;
  const relative = RELATIVE.exec(text);
  if (relative) return nowMs - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS];
  if (RFC3339.test(text)) {
    if (text.length === 10) {
      const [year, month, day] = text.split("-").map(Number);
      const ms = localMidnight(year, month, day, timeZone);
      if (!Number.isNaN(ms) && localParts(ms, timeZone).month === month) return ms;
    } else {
      const ms = Date.parse(text);
      if (!Number.isNaN(ms)) return ms;
    }
  }
  throw new UserError(
    `${flag} ${JSON.stringify(text)} is not a date: use RFC 3339 (2026-03-01T00:00:00Z, 2026-03-01), a relative time like -30d, or now`,
  );
}
