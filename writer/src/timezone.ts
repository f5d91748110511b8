/**
 * Wall-clock arithmetic in the configured IANA time zone, for `time_of_day` and for naive timestamps.
 * `Intl.DateTimeFormat` costs microseconds per call, too much per event at the throughput target, so
 * the zone's UTC offset is computed once per quarter hour of UTC time and cached: every zone in the
 * IANA database changes its offset only on a quarter-hour boundary.
 */

const QUARTER_HOUR_MS = 15 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
const MAX_CACHED_SLOTS = 4096;

/** Offsets and local hours in one IANA time zone. */
export class ZoneClock {
  /** The IANA name this clock computes in. */
  readonly timeZone: string;
  private readonly format: Intl.DateTimeFormat;
  private readonly offsets = new Map<number, number>();

  constructor(timeZone: string) {
    this.timeZone = timeZone;
    this.format = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
  }

  /** Milliseconds to add to a UTC instant to get the zone's wall-clock time at that instant. */
  offsetAt(utcMs: number): number {
    const slot = Math.floor(utcMs / QUARTER_HOUR_MS);
    let offset = this.offsets.get(slot);
    if (offset === undefined) {
      if (this.offsets.size >= MAX_CACHED_SLOTS) this.offsets.clear();
      offset = this.computeOffset(slot * QUARTER_HOUR_MS);
      this.offsets.set(slot, offset);
    }
    return offset;
  }

  /** Local hour of day, 0–23. */
  hourAt(utcMs: number): number {
    const local = utcMs + this.offsetAt(utcMs);
    return Math.floor((((local % 86_400_000) + 86_400_000) % 86_400_000) / HOUR_MS);
  }

  /**
   * The UTC instant of a wall-clock time written without an offset (e.g. Python's naive
   * `datetime.now().isoformat()`), given as if it were UTC. In a gap or an overlap of a DST change
   * the earlier offset's reading is taken.
   */
  wallClockToUtc(wallMs: number): number {
    const first = wallMs - this.offsetAt(wallMs);
    return wallMs - this.offsetAt(first);
  }

  private computeOffset(utcMs: number): number {
    let year = 0,
      month = 0,
      day = 0,
      hour = 0,
      minute = 0,
      second = 0;
    for (const part of this.format.formatToParts(utcMs)) {
      const value = Number(part.value);
      switch (part.type) {
        case "year":
          year = value;
          break;
        case "month":
          month = value;
          break;
        case "day":
          day = value;
          break;
        case "hour":
          hour = value;
          break;
        case "minute":
          minute = value;
          break;
        case "second":
          second = value;
          break;
        default:
          break;
      }
    }
    const wall = Date.UTC(year, month - 1, day, hour, minute, second);
    return wall - (utcMs - (((utcMs % 1000) + 1000) % 1000));
  }
}
