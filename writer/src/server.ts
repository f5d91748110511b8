/**
 * The writer's HTTP server: probes, status, Prometheus metrics and (when a token is configured) the
 * ingest endpoint, on one port.
 *
 * - `/healthz`: liveness. 200 while the process serves requests; it does not look at InfluxDB, since
 *   restarting the writer would not bring InfluxDB back and the spool keeps the data meanwhile.
 * - `/readyz`: 200 when InfluxDB is reachable and accepts writes with the configured token, else 503.
 * - `/status`: the ServiceStatus, always 200 (it is a report; the probes carry the verdicts). Error
 *   texts can quote event data (InfluxDB's refusals repeat the lines they refuse) and the weather
 *   details are readings: both are shown only to a request bearing the ingest token.
 * - `/metrics`: the Prometheus registry, plus `writer_component_healthy{component}` read at scrape.
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import { Gauge } from "prom-client";
import type { ComponentStatus } from "./componentStatus";
import type { Logger } from "./logger";
import type { WriterMetrics } from "./metrics";
import type { StorageStatus } from "./monitor";
import type { Pipeline } from "./pipeline";
import type { HomeAssistantSource } from "./sources/homeassistant";
import { bearerTokenMatcher, INGEST_PATH, registerIngest } from "./sources/ingest";

/** Names of the components `/status` reports (`docs/schema.md`). */
export const COMPONENTS = ["websocket_client", "ingest", "influxdb", "weather"] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** One component in `/status`. */
export interface ServiceComponent extends ComponentStatus {
  /** False when the component is not configured; it then does not count towards the overall status. */
  enabled: boolean;
}

/** The body of `/status`. */
export interface ServiceStatus {
  /**
   * `healthy`: every enabled component works. `degraded`: InfluxDB works but a source or the weather
   * context does not. `unhealthy`: InfluxDB does not accept writes (events wait in the spool).
   */
  status: "healthy" | "degraded" | "unhealthy";
  /** The writer's version. */
  version: string;
  /** Seconds since the writer started. */
  uptimeSeconds: number;
  /** ISO time of this report. */
  timestamp: string;
  /** Each component, healthy or not. */
  components: Record<ComponentName, ServiceComponent>;
  /** The storage monitor's figures, forecasts and alerts, when it runs; they do not change `status`. */
  storage?: StorageStatus;
}

/** What the server reports on and serves. */
export interface ServerOptions {
  /** The pipeline: submit target, InfluxDB and weather health, `/readyz` check. */
  pipeline: Pipeline;
  /** The registry to expose at `/metrics`. */
  metrics: WriterMetrics;
  /** Logger for server errors. */
  logger: Logger;
  /** The WebSocket client, when Home Assistant is configured. */
  homeAssistant?: HomeAssistantSource;
  /** Whether a weather entity is configured (otherwise the weather context is reported, not counted). */
  weatherConfigured: boolean;
  /** Ingest settings; without a token the ingest endpoint is not served. */
  ingest: { token?: string; maxBodyBytes: number; maxEventsPerRequest: number; maxEventBytes: number };
  /** False once shutdown has begun: ingest answers 503 from then on. */
  isAcceptingEvents: () => boolean;
  /** The writer's version, reported in `/status`. */
  version: string;
  /** When the writer started (ms since the epoch), for the uptime. */
  startedAt: number;
  /** The storage monitor's report, when it runs. */
  storage?: () => StorageStatus;
}

/**
 * One line per request: method, path (query values redacted by the logger), status and time. Probes,
 * scrapes and ingest requests arrive every few seconds, so the line is at debug level unless the
 * request failed with an error.
 */
class RequestLog extends LogController {
  override incomingRequest(): void {
    // The completion line carries everything; a second line per request would only double the volume.
  }
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const fields = { req: request, res: reply, responseTime: Math.round(reply.elapsedTime * 1000) / 1000 };
    if (error) reply.log.error({ ...fields, err: error }, "request errored");
    else reply.log.debug(fields, "request completed");
  }
}

/** Combines the components into the overall verdict. */
export function overallStatus(components: Record<ComponentName, ServiceComponent>): ServiceStatus["status"] {
  if (!components.influxdb.healthy) return "unhealthy";
  return Object.values(components).every((component) => !component.enabled || component.healthy)
    ? "healthy"
    : "degraded";
}

/** Builds the status report from the live components. */
export function serviceStatus(options: ServerOptions): ServiceStatus {
  const ha = options.homeAssistant;
  const ingestEnabled = options.ingest.token !== undefined;
  const accepting = options.isAcceptingEvents();
  const components: Record<ComponentName, ServiceComponent> = {
    websocket_client: ha
      ? { ...ha.status(), enabled: true }
      : {
          name: "websocket_client",
          enabled: false,
          healthy: false,
          message: "not configured (no homeAssistant section)",
        },
    ingest: ingestEnabled
      ? {
          name: "ingest",
          enabled: true,
          healthy: accepting,
          message: accepting ? `accepting events at ${INGEST_PATH}` : "shutting down",
        }
      : { name: "ingest", enabled: false, healthy: false, message: "not configured (no ingest token)" },
    influxdb: { ...options.pipeline.status(), name: "influxdb", enabled: true },
    weather: { ...options.pipeline.weatherStatus(), name: "weather", enabled: options.weatherConfigured },
  };
  return {
    status: overallStatus(components),
    version: options.version,
    uptimeSeconds: Math.round((Date.now() - options.startedAt) / 1000),
    timestamp: new Date().toISOString(),
    components,
    ...(options.storage ? { storage: options.storage() } : {}),
  };
}

/** The report without what may carry event data: every `lastError`, and the weather readings. */
export function publicStatus(status: ServiceStatus): ServiceStatus {
  const components = {} as Record<ComponentName, ServiceComponent>;
  for (const name of COMPONENTS) {
    const { lastError: _hidden, ...component } = status.components[name];
    if (name === "weather") delete component.details;
    components[name] = component;
  }
  return { ...status, components };
}

/** Creates the server (not yet listening). */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: options.logger as FastifyBaseLogger, logController: new RequestLog() });
  const status = () => serviceStatus(options);

  new Gauge({
    name: "writer_component_healthy",
    help: "1 when the component works, 0 when not (only enabled components are reported)",
    labelNames: ["component"],
    registers: [options.metrics.registry],
    collect() {
      this.reset();
      for (const component of Object.values(status().components)) {
        if (component.enabled) this.set({ component: component.name }, component.healthy ? 1 : 0);
      }
    },
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    // A rejected Home Assistant token does not fix itself: the writer is not ready while it lasts.
    const haProblem = options.homeAssistant?.authProblem();
    if (haProblem !== undefined) return reply.code(503).send({ ready: false, message: haProblem });
    const check = await options.pipeline.checkWritable();
    return reply.code(check.ok ? 200 : 503).send({ ready: check.ok, message: check.message });
  });
  const fullStatusAllowed = options.ingest.token === undefined ? () => false : bearerTokenMatcher(options.ingest.token);
  app.get("/status", async (request) =>
    fullStatusAllowed(request.headers.authorization) ? status() : publicStatus(status()),
  );
  app.get("/metrics", async (_request, reply) => {
    reply.header("content-type", options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });

  if (options.ingest.token !== undefined) {
    await registerIngest(
      app,
      {
        sink: options.pipeline,
        token: options.ingest.token,
        bodyLimitBytes: options.ingest.maxBodyBytes,
        maxEventsPerRequest: options.ingest.maxEventsPerRequest,
        maxEventBytes: options.ingest.maxEventBytes,
        metrics: options.metrics,
      },
      options.isAcceptingEvents,
    );
  }
  return app;
}
