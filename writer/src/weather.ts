/**
 * Weather readings in one set of units: °C for temperatures and hPa for pressure, whatever the weather
 * entity reports in. Home Assistant's weather entities carry their units as the attributes
 * `temperature_unit` and `pressure_unit` (their values follow the user's choice: °F and inHg are
 * common). A reading whose unit attribute is absent is taken to be in °C / hPa (Home Assistant's
 * metric default); a unit this module does not know drops that one value (it is never written in an
 * unknown unit), and `unknownUnit` says which.
 */
import type { WeatherReading } from "./events";

const TEMPERATURE: Readonly<Record<string, (value: number) => number>> = {
  "°C": (value) => value,
  "°F": (value) => ((value - 32) * 5) / 9,
  K: (value) => value - 273.15,
};

const PRESSURE_TO_HPA: Readonly<Record<string, number>> = {
  hPa: 1,
  mbar: 1,
  Pa: 0.01,
  kPa: 10,
  bar: 1000,
  cbar: 100,
  mmHg: 1.333223684,
  inHg: 33.86389,
  psi: 68.94757,
};

/** A weather entity's reading from its state and attributes, converted; `undefined` when it has none. */
export function weatherReadingOf(
  state: string,
  attributes: Readonly<Record<string, unknown>>,
): { reading?: WeatherReading; unknownUnits: string[] } {
  if (state === "unavailable" || state === "unknown" || state === "") return { unknownUnits: [] };
  const reading: WeatherReading = { condition: state };
  const unknownUnits: string[] = [];
  const temperatureUnit = typeof attributes.temperature_unit === "string" ? attributes.temperature_unit : "°C";
  const temperature = finite(attributes.temperature);
  if (temperature !== undefined) {
    const convert = TEMPERATURE[temperatureUnit];
    if (convert) reading.temperature = round(convert(temperature));
    else unknownUnits.push(`temperature_unit ${JSON.stringify(temperatureUnit)}`);
  }
  const pressureUnit = typeof attributes.pressure_unit === "string" ? attributes.pressure_unit : "hPa";
  const pressure = finite(attributes.pressure);
  if (pressure !== undefined) {
    const factor = PRESSURE_TO_HPA[pressureUnit];
    if (factor !== undefined) reading.pressure = round(pressure * factor);
    else unknownUnits.push(`pressure_unit ${JSON.stringify(pressureUnit)}`);
  }
  const humidity = finite(attributes.humidity);
  if (humidity !== undefined) reading.humidity = humidity;
  return { reading, unknownUnits };
}

function finite(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

/** Conversions leave binary noise (`21.111111111111114`): two decimals are finer than any weather sensor. */
function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * The configured weather entity's readings over time, so that an event gets the weather that was
 * current at its own time (not at the time the writer happens to process it): a backfill or snapshot
 * then writes the same weather as live events would have.
 */
export class WeatherTimeline {
  private readings: { atUs: number; reading: WeatherReading | undefined }[] = [];

  constructor(
    private readonly staleUs: number,
    private readonly keep = 256,
  ) {}

  /** Records the reading (undefined: no weather, e.g. the entity is unavailable) that began at `atUs`. */
  record(atUs: number, reading: WeatherReading | undefined): void {
    let index = this.readings.length;
    while (index > 0 && this.readings[index - 1]!.atUs > atUs) index--;
    if (index > 0 && this.readings[index - 1]!.atUs === atUs) this.readings[index - 1] = { atUs, reading };
    else this.readings.splice(index, 0, { atUs, reading });
    if (this.readings.length > this.keep) this.readings.splice(0, this.readings.length - this.keep);
  }

  /** The reading in effect at `atUs`: the last one at or before it, unless older than the stale limit. */
  at(atUs: number): WeatherReading | undefined {
    for (let index = this.readings.length - 1; index >= 0; index--) {
      const entry = this.readings[index]!;
      if (entry.atUs <= atUs) return atUs - entry.atUs < this.staleUs ? entry.reading : undefined;
    }
    return undefined;
  }

  /** The latest entry, for `/status` and the state file. */
  latest(): { atUs: number; reading: WeatherReading | undefined } | undefined {
    return this.readings[this.readings.length - 1];
  }
}
