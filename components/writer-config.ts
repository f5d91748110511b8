import type { WriterConfigFile } from "ha-influx-writer/config";
import type { StackConfig } from "./config";

/** The `writerConfig` stack output: the writer's own configuration file type, so a key the writer renames breaks this build. */
export type WriterConfig = WriterConfigFile;

/** Names of the buckets the writer writes, by role. */
export type WriterBuckets = Required<NonNullable<WriterConfigFile["influxdb"]["buckets"]>>;

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
  /**
   * A directory the writer sees on the server's data filesystem because the program mounts it there
   * (the docker runtime); the monitor's `dataDir` when the stack sets neither `dataDir` nor `capacityGb`.
   */
  serverDataDir?: string;
}

/** Whether the monitor needs the program to show it the server's data (no disk source is configured). */
export function monitorNeedsServerData(cfg: StackConfig): boolean {
  return (
    cfg.monitor.enabled &&
    cfg.tokens.monitor &&
    cfg.monitor.dataDir === undefined &&
    cfg.monitor.capacityGb === undefined
  );
}

/** Builds the writer's configuration from the stack settings and the resolved connection. */
export function buildWriterConfig(cfg: StackConfig, connection: WriterConnection): WriterConfig {
  const { writer } = cfg;
  const { monitorToken, serverDataDir, ...influx } = connection;
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
  if (writer.homeAssistant !== undefined) {
    const { url, token, tokenFile, weatherEntity, snapshotOnStart, authRetrySeconds, recorderCommitIntervalSeconds } =
      writer.homeAssistant;
    // Unset keys stay out, so the writer's own defaults apply.
    config.homeAssistant = {
      url,
      ...(token === undefined ? {} : { token }),
      ...(tokenFile === undefined ? {} : { tokenFile }),
      ...(weatherEntity === undefined ? {} : { weatherEntity }),
      ...(snapshotOnStart === undefined ? {} : { snapshotOnStart }),
      ...(authRetrySeconds === undefined ? {} : { authRetrySeconds }),
      ...(recorderCommitIntervalSeconds === undefined ? {} : { recorderCommitIntervalSeconds }),
    };
  }
  if (writer.ingest !== undefined) {
    const { host, port, token } = writer.ingest;
    config.ingest = { host, port, ...(token === undefined ? {} : { token }) };
  }
  if (writer.filters !== undefined) config.filters = writer.filters;
  if (cfg.monitor.enabled && monitorToken !== undefined) {
    const { intervalSeconds, growthWindowDays, capacityGb, alerts } = cfg.monitor;
    // An explicit setting wins: the sampler prefers `dataDir`, so the mount must not shadow a capacity.
    const dataDir = cfg.monitor.dataDir ?? (capacityGb === undefined ? serverDataDir : undefined);
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
