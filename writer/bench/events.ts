/**
 * Deterministic, realistic Home Assistant events for the benchmark: mixed domains, attributes as
 * Home Assistant sends them, both accepted shapes (`state_changed` and the flat enriched one with
 * weather), a few `unavailable` states. Seeded, so every pipeline sees byte-identical input.
 */

interface EntityTemplate {
  entityId: string;
  friendlyName: string;
  deviceClass?: string;
  unit?: string;
  /** Next state given a random number in [0, 1). */
  state: (r: number) => string;
  extra?: (r: number) => Record<string, unknown>;
}

const numeric = (low: number, high: number, digits: number) => (r: number) => (low + r * (high - low)).toFixed(digits);
const pick =
  (...values: string[]) =>
  (r: number) =>
    values[Math.floor(r * values.length)];

const ENTITIES: EntityTemplate[] = [
  {
    entityId: "sensor.living_room_temperature",
    friendlyName: "Living Room Temperature",
    deviceClass: "temperature",
    unit: "°C",
    state: numeric(17, 25, 1),
  },
  {
    entityId: "sensor.bedroom_humidity",
    friendlyName: "Bedroom Humidity",
    deviceClass: "humidity",
    unit: "%",
    state: numeric(30, 70, 0),
  },
  {
    entityId: "sensor.washing_machine_power",
    friendlyName: "Washing Machine Power",
    deviceClass: "power",
    unit: "W",
    state: numeric(0, 2200, 1),
  },
  {
    entityId: "sensor.house_energy_total",
    friendlyName: "House Energy, total",
    deviceClass: "energy",
    unit: "kWh",
    state: numeric(1200, 1300, 3),
    extra: () => ({ state_class: "total_increasing" }),
  },
  {
    entityId: "sensor.hallway_motion_battery",
    friendlyName: "Hallway Motion Battery",
    deviceClass: "battery",
    unit: "%",
    state: numeric(5, 100, 0),
  },
  {
    entityId: "binary_sensor.hallway_motion",
    friendlyName: "Hallway Motion",
    deviceClass: "motion",
    state: pick("on", "off"),
  },
  {
    entityId: "binary_sensor.front_door",
    friendlyName: "Front Door",
    deviceClass: "door",
    state: pick("on", "off", "off", "unavailable"),
  },
  {
    entityId: "light.kitchen",
    friendlyName: "Kitchen Light",
    state: pick("on", "off"),
    extra: (r) => ({
      brightness: Math.floor(r * 255),
      color_mode: "color_temp",
      color_temp_kelvin: 2700 + Math.floor(r * 3800),
      supported_color_modes: ["color_temp"],
    }),
  },
  { entityId: "switch.coffee_maker", friendlyName: "Coffee Maker", state: pick("on", "off") },
  {
    entityId: "climate.thermostat",
    friendlyName: "Thermostat",
    state: pick("heat", "off", "heat"),
    extra: (r) => ({
      current_temperature: 19 + r * 3,
      temperature: 21,
      hvac_modes: ["off", "heat"],
      hvac_action: r > 0.5 ? "heating" : "idle",
    }),
  },
  {
    entityId: "person.alice",
    friendlyName: "Alice",
    state: pick("home", "not_home", "work"),
    extra: (r) => ({
      source: "device_tracker.alice_phone",
      latitude: 52.37 + r / 100,
      longitude: 4.89 + r / 100,
      gps_accuracy: 12,
    }),
  },
  { entityId: "lock.front_door", friendlyName: "Front Door Lock", state: pick("locked", "unlocked") },
  {
    entityId: "cover.garage_door",
    friendlyName: "Garage Door",
    deviceClass: "garage",
    state: pick("open", "closed", "closed"),
  },
  {
    entityId: "media_player.living_room_tv",
    friendlyName: 'Living Room TV, "Sony"',
    state: pick("playing", "paused", "idle", "off"),
    extra: () => ({ source: "HDMI 1", volume_level: 0.25 }),
  },
  {
    entityId: "weather.home",
    friendlyName: "Home",
    state: pick("sunny", "cloudy", "rainy", "partlycloudy"),
    extra: (r) => ({
      temperature: 5 + r * 20,
      humidity: 40 + Math.floor(r * 50),
      pressure: 1000 + r * 30,
      wind_speed: r * 40,
      temperature_unit: "°C",
      pressure_unit: "hPa",
    }),
  },
];

/** mulberry32: tiny seeded PRNG, so runs are comparable. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function attributes(template: EntityTemplate, r: number): Record<string, unknown> {
  const result: Record<string, unknown> = { friendly_name: template.friendlyName };
  if (template.deviceClass) result.device_class = template.deviceClass;
  if (template.unit) result.unit_of_measurement = template.unit;
  return template.extra ? { ...result, ...template.extra(r) } : result;
}

/**
 * `count` events as NDJSON, split into chunks of `chunkSize` lines (one chunk is what one HTTP ingest
 * request or one replay read would carry). Timestamps advance 1 ms per event, so no two events of an
 * entity share one.
 */
export function generateChunks(count: number, chunkSize: number, seed = 42): string[] {
  const next = random(seed);
  const previous = new Map<string, string>();
  const start = Date.UTC(2026, 0, 1);
  const chunks: string[] = [];
  let lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const template = ENTITIES[Math.floor(next() * ENTITIES.length)];
    const r = next();
    const state = template.state(r);
    const time = new Date(start + i).toISOString();
    const attrs = attributes(template, r);
    let event: object;
    if (i % 2 === 0) {
      const old = previous.get(template.entityId);
      const context = { id: `01J${i.toString(36).padStart(23, "0")}`, parent_id: null, user_id: null };
      event = {
        entity_id: template.entityId,
        old_state:
          old === undefined
            ? null
            : {
                entity_id: template.entityId,
                state: old,
                attributes: attrs,
                last_changed: new Date(start + i - 60_000).toISOString(),
                last_updated: new Date(start + i - 60_000).toISOString(),
                context,
              },
        new_state: {
          entity_id: template.entityId,
          state,
          attributes: attrs,
          last_changed: time,
          last_updated: time,
          context,
        },
      };
    } else {
      event = {
        entity_id: template.entityId,
        state,
        attributes: attrs,
        timestamp: time,
        weather: { temperature: 12.5 + r, humidity: 71, pressure: 1013.2, condition: "cloudy" },
      };
    }
    previous.set(template.entityId, state);
    lines.push(JSON.stringify(event));
    if (lines.length === chunkSize) {
      chunks.push(lines.join("\n"));
      lines = [];
    }
  }
  if (lines.length > 0) chunks.push(lines.join("\n"));
  return chunks;
}
