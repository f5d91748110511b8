import type { StackConfig } from "./config";

/** Names of the buckets the writer writes, by role. */
export interface WriterBuckets {
  /** Raw Home Assistant events. */
  events: string;
  /** Weather readings. */
  weather: string;
  /** The writer's own statistics. */
  system: string;
  /** Sports data. */
  sports: string;
}

/** The `writerConfig` stack output: the JSON the writer reads directly (`--config` file or stdin). */
export interface WriterConfig {
  /** Where and how the writer delivers. */
  influxdb: {
    /** Server URL. */
    url: string;
    /** Organisation name. */
    org: string;
    /** The writer token (write-only to `buckets`). */
    token: string;
    /** Target buckets by role. */
    buckets: WriterBuckets;
    /** Points per batch. */
    batchSize: number;
    /** Seconds before a partial batch is sent. */
    batchTimeoutSeconds: number;
    /** Seconds a write may take. */
    writeTimeoutSeconds: number;
    /** Seconds a read (readiness probe) may take. */
    readTimeoutSeconds: number;
  };
  /** IANA time zone of the `time_of_day` tag. */
  timeZone: string;
  /** Log level. */
  logLevel: string;
  /** `json` or `text`. */
  logFormat: string;
  /** Home Assistant to subscribe to, when configured. */
  homeAssistant?: { url: string; token: string; weatherEntity?: string };
  /** HTTP ingest listener, when configured. */
  ingest?: { host: string; port: number; token?: string };
  /** Entity filters, when configured. */
  filters?: StackConfig["writer"]["filters"];
  /** The storage monitor, when the stack has a monitor token and `monitor.enabled`. */
  monitor?: {
    /** The monitor token (read of the buckets, the org and the rollup tasks). */
    token: string;
    intervalSeconds: number;
    growthWindowDays: number;
    dataDir?: string;
    capacityBytes?: number;
    alerts: StackConfig["monitor"]["alerts"];
  };
}

/** What the program resolved for the writer: where the server is and the writer's own token. */
export interface WriterConnection {
  /** Server URL as the writer reaches it. */
  url: string;
  /** Organisation name. */
  org: string;
  /** Writer token. */
  token: string;
  /** Bucket names by role. */
  buckets: WriterBuckets;
  /** The monitor token, when the stack creates one. */
  monitorToken?: string;
}

/** Builds the writer's configuration from the stack settings and the resolved connection. */
export function buildWriterConfig(cfg: StackConfig, connection: WriterConnection): WriterConfig {
  const { writer } = cfg;
  const { monitorToken, ...influx } = connection;
  const config: WriterConfig = {
    influxdb: {
      ...influx,
      batchSize: writer.batchSize,
      batchTimeoutSeconds: writer.batchTimeoutSeconds,
      writeTimeoutSeconds: writer.writeTimeoutSeconds,
      readTimeoutSeconds: writer.readTimeoutSeconds,
    },
    timeZone: cfg.timeZone,
    logLevel: writer.logLevel,
    logFormat: writer.logFormat,
  };
  if (writer.homeAssistant?.token !== undefined) {
    const { url, token, weatherEntity } = writer.homeAssistant;
    config.homeAssistant = { url, token, ...(weatherEntity === undefined ? {} : { weatherEntity }) };
  }
  if (writer.ingest !== undefined) {
    const { host, port, token } = writer.ingest;
    config.ingest = { host, port, ...(token === undefined ? {} : { token }) };
  }
  if (writer.filters !== undefined) config.filters = writer.filters;
  if (cfg.monitor.enabled && monitorToken !== undefined) {
    const { intervalSeconds, growthWindowDays, dataDir, capacityGb, alerts } = cfg.monitor;
    config.monitor = {
      token: monitorToken,
      intervalSeconds,
      growthWindowDays,
      ...(dataDir === undefined ? {} : { dataDir }),
      ...(capacityGb === undefined ? {} : { capacityBytes: Math.round(capacityGb * 1e9) }),
      alerts,
    };
  }
  return config;
}
