// Pattern keys: which bucket of a pattern a window falls in, by the local time of the window's start.
import { isoWeek, type LocalParts } from "./time";

export const PATTERNS = [
  "summary",
  "hour",
  "weekday",
  "hour-weekday",
  "week",
  "month",
  "season",
  "year",
  "calendar",
] as const;
export type Pattern = (typeof PATTERNS)[number];
export type Hemisphere = "north" | "south";

export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;
export const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;
/** Meteorological seasons: three whole months each, December counted with the January after it. */
export const SEASONS = ["DJF", "MAM", "JJA", "SON"] as const;
const SEASON_NAMES: Record<Hemisphere, Record<(typeof SEASONS)[number], string>> = {
  north: { DJF: "winter", MAM: "spring", JJA: "summer", SON: "autumn" },
  south: { DJF: "summer", MAM: "autumn", JJA: "winter", SON: "spring" },
};

/** Patterns whose keys split a day: only hourly windows (rolled up or from raw) answer them. */
export function needsHours(pattern: Pattern): boolean {
  return pattern === "hour" || pattern === "hour-weekday";
}

const pad = (n: number) => String(n).padStart(2, "0");

/** The key of a window starting at local time `at`. */
export function patternKey(pattern: Pattern, at: LocalParts): string {
  switch (pattern) {
    case "summary":
      return "all";
    case "hour":
      return String(at.hour);
    case "weekday":
      return WEEKDAYS[at.weekday];
    case "hour-weekday":
      return `${WEEKDAYS[at.weekday]}-${pad(at.hour)}`;
    case "week":
      return `W${pad(isoWeek(at.year, at.month, at.day))}`;
    case "month":
      return MONTHS[at.month - 1];
    case "season":
      return SEASONS[Math.floor((at.month % 12) / 3)];
    case "year":
      return String(at.year);
    case "calendar":
      return `${at.year}-${pad(at.month)}-${pad(at.day)}`;
  }
}

/** The natural order of a pattern's keys (hours and weeks as numbers, weekdays Monday first). */
export function keyRank(pattern: Pattern, key: string): number {
  switch (pattern) {
    case "hour":
      return Number(key);
    case "weekday":
      return WEEKDAYS.indexOf(key as (typeof WEEKDAYS)[number]);
    case "hour-weekday":
      return WEEKDAYS.indexOf(key.slice(0, 3) as (typeof WEEKDAYS)[number]) * 24 + Number(key.slice(4));
    case "week":
      return Number(key.slice(1));
    case "month":
      return MONTHS.indexOf(key as (typeof MONTHS)[number]);
    case "season":
      return SEASONS.indexOf(key as (typeof SEASONS)[number]);
    case "year":
      return Number(key);
    case "calendar":
      return Date.parse(key);
    case "summary":
      return 0;
  }
}

/** The season's name in a hemisphere, e.g. `winter` for DJF in the north. */
export function seasonName(key: string, hemisphere: Hemisphere): string {
  return SEASON_NAMES[hemisphere][key as (typeof SEASONS)[number]];
}
