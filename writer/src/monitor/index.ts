/**
 * The storage monitor as the writer starts it: the real sampler, the system bucket as its store and
 * its history, on the writer's logger and metrics registry. See `monitor.ts` for what a round does.
 */
import type { Registry } from "prom-client";
import type { Logger } from "../logger";
import type { MonitorConfig } from "./config";
import { loadHistory, sampleLines } from "./history";
import { InfluxApi, writeLines } from "./influxApi";
import { StorageMonitor } from "./monitor";
import { takeSample } from "./sampler";

export type { StorageStatus } from "./monitor";
export { StorageMonitor };

/** The writer settings the monitor uses besides its own section. */
export interface MonitorConnection {
  url: string;
  org: string;
  /** The writer's token, which may write to the system bucket. */
  writerToken: string;
  systemBucket: string;
  timeoutMs: number;
}

/** Creates the monitor (not yet started). */
export function createStorageMonitor(
  config: MonitorConfig,
  connection: MonitorConnection,
  deps: { logger: Logger; registry: Registry },
): StorageMonitor {
  const api = new InfluxApi({
    url: connection.url,
    org: connection.org,
    token: config.token,
    timeoutMs: connection.timeoutMs,
    metricsUrl: config.metricsUrl,
  });
  return new StorageMonitor(config, {
    ...deps,
    sample: () =>
      takeSample({
        api,
        dataDir: config.dataDir,
        capacityBytes: config.capacityBytes,
        runsPerTask: Math.max(10, config.alerts.taskFailedRuns + 1),
      }),
    store: (sample) =>
      writeLines(
        {
          url: connection.url,
          org: connection.org,
          bucket: connection.systemBucket,
          token: connection.writerToken,
          timeoutMs: connection.timeoutMs,
        },
        sampleLines(sample),
      ),
    loadHistory: () => loadHistory(api, connection.systemBucket, config.growthWindowDays),
  });
}
