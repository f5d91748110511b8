/**
 * The time-series schema shared by the provisioner (bucket and rollup definitions) and the writer
 * (mapping, routing, query templates), written out in `docs/schema.md`. Pure constants: importable
 * from both sides without a cycle (the program imports them as `ha-influx-writer/schema`).
 */

/** Measurement of raw Home Assistant state changes. */
export const MEASUREMENT = "home_assistant_events";

/** Tag keys of raw points, in the order the writer serialises them (sorted, as InfluxDB prefers). */
export const TAG_KEYS = [
  "area",
  "device_class",
  "device_name",
  "domain",
  "entity_id",
  "integration",
  "time_of_day",
  "weather_condition",
] as const;
export type TagKey = (typeof TAG_KEYS)[number];

/** Numeric fields: always written as floats, so no shard ever sees an integer/float conflict. */
export const NUMERIC_FIELDS = [
  "normalized_value",
  "confidence",
  "duration_seconds",
  "weather_temp",
  "weather_humidity",
  "weather_pressure",
] as const;

/** String fields: kept apart from numeric ones for the same reason. */
export const STRING_FIELDS = ["state_value", "previous_state", "unit_of_measurement"] as const;

export const FIELD_KEYS = [...NUMERIC_FIELDS, ...STRING_FIELDS] as const;

/** Attributes whose text the mapping writes as a tag (`area`/`area_id`, `device_class`, `friendly_name` as `device_name`, `integration`/`platform`). */
export const TAG_ATTRIBUTES = ["area", "area_id", "device_class", "friendly_name", "integration", "platform"] as const;
/** Attributes whose text the mapping writes as a string field. */
export const STRING_FIELD_ATTRIBUTES = ["unit_of_measurement"] as const;
export type FieldKey = (typeof FIELD_KEYS)[number];

/** Tags the rollups group by. */
export const ROLLUP_GROUP_TAGS = ["entity_id", "domain", "device_class", "area"] as const;

/** Measurements written by the downsampling tasks into the rollup buckets. */
export const HOURLY_MEASUREMENT = "home_assistant_hourly";
export const DAILY_MEASUREMENT = "home_assistant_daily";

/** Fields of a rollup point: statistics of `normalized_value` over the window. */
export const ROLLUP_FIELDS = ["mean", "min", "max", "count"] as const;
/** Daily rollups also carry the energy consumed in the day by `device_class=energy` sensors (kWh). */
export const ENERGY_FIELD = "energy_kwh";

/** Default bucket names and retention (days), as `docs/schema.md` lists them. */
export const DEFAULT_BUCKETS = {
  events: { name: "home_assistant_events", retentionDays: 365, shardGroupDays: 7 },
  sports: { name: "sports_data", retentionDays: 90 },
  weather: { name: "weather_data", retentionDays: 180 },
  system: { name: "system_metrics", retentionDays: 30 },
  hourly: { name: "home_assistant_hourly", retentionDays: 730, shardGroupDays: 30 },
  daily: { name: "home_assistant_daily", retentionDays: 2555, shardGroupDays: 90 },
} as const;
export type BucketRole = keyof typeof DEFAULT_BUCKETS;

export const DEFAULT_ORG = "home_assistant";

/** Measurement of the writer's own statistics, written periodically to the system bucket. */
export const WRITER_STATS_MEASUREMENT = "ha_influx_writer";
