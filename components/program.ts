import * as pulumi from "@pulumi/pulumi";
import type { BucketRole } from "ha-influx-writer/schema";
import type { StackConfig } from "./config";
import { Downsampling } from "./downsampling";
import { DockerInfluxServer, ExternalInfluxServer, type InfluxServerOutputs } from "./server";
import { Tenancy } from "./tenancy";
import { Tokens } from "./tokens";
import { buildWriterConfig, monitorNeedsServerData, type WriterBuckets, type WriterConfig } from "./writer-config";
import { WRITER_SERVER_DATA_PATH, WriterService } from "./writer-service";

/** The buckets the writer writes; the rollup buckets are written by the tasks alone. */
const WRITER_BUCKET_ROLES = [
  "events",
  "weather",
  "system",
  "sports",
] as const satisfies readonly (keyof WriterBuckets)[];

/** The stack outputs. */
export interface ProgramOutputs {
  /** URL of the InfluxDB API. */
  url: pulumi.Output<string>;
  /** Organisation name. */
  orgName: pulumi.Output<string>;
  /** Organisation id. */
  orgId: pulumi.Output<string>;
  /** Bucket names and ids by role. */
  buckets: Record<BucketRole, { name: pulumi.Output<string>; id: pulumi.Output<string> }>;
  /** Ids of the declared rollup tasks. */
  taskIds: { hourly?: pulumi.Output<string>; daily?: pulumi.Output<string> };
  /** The created API tokens (secret). */
  tokens: { writer?: pulumi.Output<string>; reader?: pulumi.Output<string>; monitor?: pulumi.Output<string> };
  /** The writer's configuration (secret), when a writer token exists. */
  writerConfig?: pulumi.Output<WriterConfig>;
  /** What `ha-influx-analyze --config` reads (secret), when a reader token exists. */
  analysisConfig?: pulumi.Output<AnalysisConfig>;
}

/** The analysis' settings: where to read, with the reader token, in the stack's time zone. */
export interface AnalysisConfig {
  url: string;
  org: string;
  token: string;
  timeZone: string;
  buckets: { events: string; hourly: string; daily: string };
}

/**
 * Declares everything a stack holds, from validated settings. `stack` names per-stack docker objects
 * (volumes, image tag, token descriptions); it defaults to the running stack.
 */
export function program(cfg: StackConfig, stack: string = pulumi.getStack()): ProgramOutputs {
  const server: InfluxServerOutputs =
    cfg.server.runtime === "docker"
      ? new DockerInfluxServer("influxdb", {
          image: cfg.server.image,
          bindAddress: cfg.server.bindAddress,
          port: cfg.server.port,
          volumeName: cfg.server.volume ?? `ha-influx-${stack}-data`,
          readyTimeoutSeconds: cfg.server.readyTimeoutSeconds,
          username: cfg.onboarding.username,
          password: pulumi.secret(requireSet(cfg.onboarding.password, "onboarding.password")),
          org: cfg.org,
          adminToken: cfg.server.adminToken === undefined ? undefined : pulumi.secret(cfg.server.adminToken),
          retainData: !cfg.deleteDataOnDestroy,
        })
      : new ExternalInfluxServer("influxdb", {
          url: requireSet(cfg.server.url, "server.url"),
          adminToken: pulumi.secret(requireSet(cfg.server.adminToken, "server.adminToken")),
          readyTimeoutSeconds: cfg.server.readyTimeoutSeconds,
        });
  const connection = { url: server.url, token: server.adminToken };

  const tenancy = new Tenancy("home-assistant", {
    connection,
    orgName: cfg.org,
    existingOrgId: server.onboardedOrgId,
    buckets: cfg.buckets,
    retainOnDelete: !cfg.deleteDataOnDestroy,
  });

  const rollups = new Downsampling("rollup", {
    connection,
    orgId: tenancy.orgId,
    rawBucket: tenancy.buckets.events.name,
    hourlyBucket: tenancy.buckets.hourly.name,
    dailyBucket: tenancy.buckets.daily.name,
    timeZone: cfg.timeZone,
    hourly: cfg.tasks.hourly.enabled ? cfg.tasks.hourly : undefined,
    daily: cfg.tasks.daily.enabled ? cfg.tasks.daily : undefined,
  });

  const tokens = new Tokens("token", {
    connection,
    orgId: tenancy.orgId,
    writeBucketIds: WRITER_BUCKET_ROLES.map((role) => tenancy.buckets[role].id),
    projectBucketIds: Object.values(tenancy.buckets).map((bucket) => bucket.id),
    rollupTaskIds: [rollups.hourlyTaskId, rollups.dailyTaskId].filter((id) => id !== undefined),
    writer: cfg.tokens.writer,
    reader: cfg.tokens.reader,
    monitor: cfg.tokens.monitor,
    descriptionPrefix: `ha-influx ${stack}`,
  });

  const { events, weather, system, sports } = tenancy.buckets;
  const writerBuckets = pulumi.all([events.name, weather.name, system.name, sports.name]).apply(
    ([eventsName, weatherName, systemName, sportsName]): WriterBuckets => ({
      events: eventsName,
      weather: weatherName,
      system: systemName,
      sports: sportsName,
    }),
  );
  // The docker runtime's data volume, mounted into the deployed writer, gives the monitor the disk's real
  // free space. A writer run by hand (writer.enabled false) has no such mount, so its config names none.
  const serverDataVolumeName = cfg.writer.enabled && monitorNeedsServerData(cfg) ? server.dataVolumeName : undefined;
  const serverDataDir = serverDataVolumeName === undefined ? undefined : WRITER_SERVER_DATA_PATH;
  const writerConfig =
    tokens.writerToken === undefined
      ? undefined
      : pulumi.secret(
          pulumi
            .all([server.url, tenancy.orgName, tokens.writerToken, writerBuckets, tokens.monitorToken])
            .apply(([url, org, token, buckets, monitorToken]) =>
              buildWriterConfig(cfg, { url, org, token, buckets, monitorToken, serverDataDir }),
            ),
        );

  const { hourly, daily } = tenancy.buckets;
  const analysisConfig =
    tokens.readerToken === undefined
      ? undefined
      : pulumi.secret(
          pulumi.all([server.url, tenancy.orgName, tokens.readerToken, events.name, hourly.name, daily.name]).apply(
            ([url, org, token, eventsName, hourlyName, dailyName]): AnalysisConfig => ({
              url,
              org,
              token,
              timeZone: cfg.timeZone,
              buckets: { events: eventsName, hourly: hourlyName, daily: dailyName },
            }),
          ),
        );

  if (cfg.writer.enabled && writerConfig !== undefined) {
    new WriterService("writer", {
      config: writerConfig,
      influxUrl: server.internalUrl,
      networkName: server.networkName,
      image: cfg.writer.image,
      buildTag: `ha-influx-writer:${stack}`,
      spoolVolumeName: cfg.writer.spoolVolume ?? `ha-influx-${stack}-writer-spool`,
      serverDataVolumeName,
      ingestBindAddress: cfg.writer.ingest?.bindAddress,
      ingestPort: cfg.writer.ingest?.port,
    });
  }

  return {
    url: server.url,
    orgName: tenancy.orgName,
    orgId: tenancy.orgId,
    buckets: tenancy.buckets,
    taskIds: { hourly: rollups.hourlyTaskId, daily: rollups.dailyTaskId },
    tokens: { writer: tokens.writerToken, reader: tokens.readerToken, monitor: tokens.monitorToken },
    writerConfig,
    analysisConfig,
  };
}

/** The schema guarantees these per runtime; this keeps the types honest without a cast. */
function requireSet<T>(value: T | undefined, key: string): T {
  if (value === undefined) throw new Error(`${key} is required for this server runtime`);
  return value;
}
