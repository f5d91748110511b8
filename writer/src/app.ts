/**
 * `startWriter`: the whole writer from a configuration object — pipeline, HTTP server (probes, status,
 * metrics, ingest) and the Home Assistant client — with one `stop` that shuts them down in the order
 * that loses nothing: sources first, then the server's in-flight requests, then the pipeline's flush.
 * The CLI and tests (including the real-influxd and end-to-end suites) start the writer through it.
 */
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { secretsOf, type WriterConfig } from "./config";
import { createLogger, type Logger } from "./logger";
import { createMetrics, type WriterMetrics } from "./metrics";
import { createPipeline, type FlushResult, type Pipeline } from "./pipeline";
import { createServer, type ServerOptions, type ServiceStatus, serviceStatus } from "./server";
import { HomeAssistantSource } from "./sources/homeassistant";

// A plain require keeps package.json out of the compilation while finding it from src/ and dist/ alike.
const { version } = require("../package.json") as { version: string };

/** Time `stop()` gives the flush when the caller names none; below Docker's default 10 s stop timeout. */
export const DEFAULT_STOP_DEADLINE_MS = 8_000;

/** Optional collaborators of `startWriter`. */
export interface StartWriterOptions {
  /** Logger; by default one built from the configuration's level and format, redacting its tokens. */
  logger?: Logger;
  /** Metrics registry; by default a fresh one. */
  metrics?: WriterMetrics;
}

/** A running writer. */
export interface RunningWriter {
  /** Base URL of the HTTP server (`http://127.0.0.1:<port>`): probes, `/status`, `/metrics`, `/events`. */
  url: string;
  /** The pipeline, for callers that submit events directly. */
  pipeline: Pipeline;
  /** The report `/status` serves. */
  status(): ServiceStatus;
  /**
   * Stops accepting events, waits for events already received to be durable, and flushes to InfluxDB
   * for at most `deadlineMs`. What is not acknowledged by then stays in the spool for the next start.
   * Calling it again returns the same promise.
   */
  stop(deadlineMs?: number): Promise<FlushResult>;
}

/** Starts the writer. Resolves once the server listens; the Home Assistant client connects in the background. */
export async function startWriter(config: WriterConfig, options: StartWriterOptions = {}): Promise<RunningWriter> {
  const logger =
    options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat, secrets: secretsOf(config) });
  const metrics = options.metrics ?? createMetrics();
  const pipeline = createPipeline(config, { logger, metrics });
  await pipeline.start();

  let accepting = true;
  const ha = config.homeAssistant;
  const homeAssistant = ha
    ? new HomeAssistantSource({
        url: ha.url,
        ...(ha.token !== undefined ? { token: ha.token } : {}),
        ...(ha.tokenFile !== undefined ? { tokenFile: ha.tokenFile } : {}),
        weatherEntity: ha.weatherEntity,
        snapshot: ha.snapshotOnStart,
        authRetryMs: ha.authRetrySeconds * 1000,
        recorderCommitMs: ha.recorderCommitIntervalSeconds * 1000,
        stateFile: join(config.spool.dir, "homeassistant.json"),
        onTimeZone: (zone) => pipeline.useTimeZone?.(zone),
        sink: pipeline,
        logger,
      })
    : undefined;
  const serverOptions: ServerOptions = {
    pipeline,
    metrics,
    logger,
    homeAssistant,
    weatherConfigured: ha?.weatherEntity !== undefined,
    ingest: config.ingest,
    isAcceptingEvents: () => accepting,
    version,
    startedAt: Date.now(),
  };
  let server: FastifyInstance;
  try {
    server = await createServer(serverOptions);
    await server.listen({ host: config.ingest.host, port: config.ingest.port });
  } catch (error) {
    await pipeline.stop(DEFAULT_STOP_DEADLINE_MS);
    throw error;
  }
  const url = listeningUrl(server);
  homeAssistant?.start();
  // The storage monitor reads with its own token and stores its samples with the writer's.
  const monitor = config.monitor
    ? (await import("./monitor")).createStorageMonitor(
        config.monitor,
        {
          url: config.influxdb.url,
          org: config.influxdb.org,
          writerToken: config.influxdb.token,
          systemBucket: config.influxdb.buckets.system,
          timeoutMs: config.influxdb.readTimeoutSeconds * 1000,
        },
        { logger, registry: metrics.registry },
      )
    : undefined;
  if (monitor) {
    serverOptions.storage = () => monitor.status();
    monitor.start();
  }
  logger.info(
    {
      url,
      ingest: config.ingest.token !== undefined,
      homeAssistant: homeAssistant !== undefined,
      storageMonitor: monitor !== undefined,
      version,
    },
    "writer started",
  );

  let stopping: Promise<FlushResult> | undefined;
  const stop = (deadlineMs = DEFAULT_STOP_DEADLINE_MS): Promise<FlushResult> => {
    stopping ??= (async () => {
      const deadline = Date.now() + deadlineMs;
      accepting = false;
      // Sources wait for their submissions, which wait for spool room; with InfluxDB down and the
      // spool full that room only comes from pipeline.stop, so these waits must not eat the deadline.
      await beforeDeadline(Promise.all([homeAssistant?.stop(), server.close(), monitor?.stop()]), deadline);
      const result = await pipeline.stop(Math.max(0, deadline - Date.now()));
      if (result.drained) logger.info("writer stopped; every accepted event was delivered");
      else
        logger.warn(
          { pendingEvents: result.pendingEvents },
          "writer stopped before delivering everything; the spool keeps the rest for the next start",
        );
      return result;
    })();
    return stopping;
  };

  return { url, pipeline, status: () => serviceStatus(serverOptions), stop };
}

/** Resolves when `work` settles or at `deadline` (ms since the epoch), whichever comes first. */
async function beforeDeadline(work: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
  });
  await Promise.race([
    work.then(
      () => undefined,
      () => undefined,
    ),
    timeout,
  ]);
  clearTimeout(timer);
}

/** The URL a client on this host reaches a server listening on `host:port` by; a wildcard address becomes loopback. */
export function localUrl(host: string, port: number): string {
  const reachable = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;
}

function listeningUrl(server: FastifyInstance): string {
  const address = server.server.address();
  if (address === null || typeof address === "string")
    throw new Error("the HTTP server is not listening on a TCP port");
  return localUrl(address.address, address.port);
}
