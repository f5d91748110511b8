// Synthetic multi-year Home Assistant history with planted patterns, shared by the analysis tests and
// the analysis benchmark: every local hour a thermometer reports a value built from a daily cycle, a
// weekend bonus, a month offset and a yearly rise; a heater runs mornings (and weekend evenings); an
// energy meter counts more at weekends and is reset once a year.

export const FIXTURE_TIME_ZONE = "Europe/Berlin";

/** Month offsets of the temperature, Jan..Dec: the seasons. */
export const MONTH_OFFSET = [-8, -7, -3, 0, 3, 6, 8, 7, 4, 0, -4, -7];
/** Degrees per hour of the day: the daily cycle. */
export const HOURLY_SLOPE = 0.5;
/** Degrees added on Saturdays and Sundays: the weekday effect. */
export const WEEKEND_BONUS = 3;
/** Degrees added per year: year over year. */
export const YEARLY_RISE = 1;
/** kWh per hour on weekdays and at weekends. */
export const WEEKDAY_KWH = 0.5;
export const WEEKEND_KWH = 1.25;

const local = new Intl.DateTimeFormat("en-US", {
  timeZone: FIXTURE_TIME_ZONE,
  hourCycle: "h23",
  year: "numeric",
  month: "numeric",
  day: "numeric",
  hour: "numeric",
  weekday: "short",
});

interface LocalHour {
  year: number;
  month: number;
  day: number;
  hour: number;
  weekend: boolean;
}

function localHour(ms: number): LocalHour {
  const parts = Object.fromEntries(local.formatToParts(ms).map((part) => [part.type, part.value]));
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    weekend: parts.weekday === "Sat" || parts.weekday === "Sun",
  };
}

export function temperatureAt(at: LocalHour, firstYear: number): number {
  return (
    10 +
    MONTH_OFFSET[at.month - 1] +
    HOURLY_SLOPE * at.hour +
    (at.weekend ? WEEKEND_BONUS : 0) +
    YEARLY_RISE * (at.year - firstYear)
  );
}

export function heatingOn(at: LocalHour): boolean {
  return (at.hour >= 6 && at.hour < 8) || (at.weekend && at.hour >= 17 && at.hour < 22);
}

export interface FixtureEntity {
  entity_id: string;
  domain: string;
  device_class: string;
  area: string;
  unit?: string;
}

/** `count` entities of each kind: thermometers, heaters and meters, numbered from 1. */
export function fixtureEntities(count = 1): FixtureEntity[] {
  const list: FixtureEntity[] = [];
  for (let i = 1; i <= count; i++) {
    const n = count === 1 ? "" : `_${i}`;
    list.push({
      entity_id: `sensor.living_temperature${n}`,
      domain: "sensor",
      device_class: "temperature",
      area: "living_room",
      unit: "°C",
    });
    list.push({
      entity_id: `binary_sensor.heating${n}`,
      domain: "binary_sensor",
      device_class: "heat",
      area: "living_room",
    });
    list.push({
      entity_id: `sensor.house_energy${n}`,
      domain: "sensor",
      device_class: "energy",
      area: "utility",
      unit: "kWh",
    });
  }
  return list;
}

/**
 * Line protocol (second precision) of every hour from `startMs` to `stopMs` for the entities, and the
 * meter's true use per local day (`YYYY-MM-DD` to kWh) for checks. A thermometer value is written each
 * hour, the heater only when it switches, the meter each hour (reset to 0 at 00:00 on 15 January).
 */
export function fixtureLines(
  entities: FixtureEntity[],
  startMs: number,
  stopMs: number,
): { lines: string[]; dailyUse: Map<string, number> } {
  const lines: string[] = [];
  const dailyUse = new Map<string, number>();
  const firstYear = localHour(startMs).year;
  const meters = new Map<string, number>();
  const heaters = new Map<string, boolean>();
  for (let ms = startMs; ms < stopMs; ms += 3_600_000) {
    const at = localHour(ms);
    const seconds = ms / 1_000;
    const date = `${at.year}-${String(at.month).padStart(2, "0")}-${String(at.day).padStart(2, "0")}`;
    for (const entity of entities) {
      const tags = `home_assistant_events,area=${entity.area},device_class=${entity.device_class},domain=${entity.domain},entity_id=${entity.entity_id}`;
      const unit = entity.unit ? `,unit_of_measurement="${entity.unit}"` : "";
      if (entity.device_class === "temperature") {
        const value = temperatureAt(at, firstYear);
        lines.push(`${tags} normalized_value=${value},state_value="${value}"${unit} ${seconds}`);
      } else if (entity.device_class === "heat") {
        const on = heatingOn(at);
        if (heaters.get(entity.entity_id) !== on)
          lines.push(`${tags} normalized_value=${on ? 1 : 0},state_value="${on ? "on" : "off"}" ${seconds}`);
        heaters.set(entity.entity_id, on);
      } else {
        // the reading at the start of this hour reports the hour before it
        const used = at.weekend ? WEEKEND_KWH : WEEKDAY_KWH;
        const previous = meters.get(entity.entity_id);
        const reset = at.month === 1 && at.day === 15 && at.hour === 0;
        const reading = previous === undefined ? 1_000 : reset ? used : previous + used;
        if (previous !== undefined && entity === entities.find((e) => e.device_class === "energy")) {
          dailyUse.set(date, (dailyUse.get(date) ?? 0) + used);
        }
        meters.set(entity.entity_id, reading);
        const text = reading.toFixed(2);
        lines.push(`${tags} normalized_value=${text},state_value="${text}"${unit} ${seconds}`);
      }
    }
  }
  return { lines, dailyUse };
}
