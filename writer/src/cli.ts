#!/usr/bin/env node
/**
 * `ha-influx-writer`: runs the writer, replays an NDJSON file for backfill, or probes a running
 * writer's `/healthz` (the container's HEALTHCHECK, which so finds the port wherever it is configured).
 *
 * Configuration comes from the Pulumi program's `writerConfig` output (a JSON file named by `--config`
 * or `WRITER_CONFIG_FILE`, or `-` for standard input:
 * `pulumi stack output writerConfig --show-secrets | ha-influx-writer --config -`) and the
 * environment variables of `docs/schema.md`, which win over the file.
 *
 * Exit codes: 0 done (healthcheck: healthy); 1 bad configuration, start-up failure or unhealthy;
 * 2 replay finished but some lines were rejected (they are listed on standard error by line number);
 * `import` documents its own exit codes (import/command.ts);
 * 130 replay stopped by a signal before the end of the file (what it read is spooled; rerunning is
 * safe, a point written twice is one point).
 */
import { parseArgs } from "node:util";
import { DEFAULT_STOP_DEADLINE_MS, localUrl, startWriter } from "./app";
import { ConfigError, loadConfig, secretsOf, type WriterConfig } from "./config";
import { importMain } from "./import/command";
import { createLogger, type Logger } from "./logger";
import { createMetrics } from "./metrics";
import { createPipeline } from "./pipeline";
import { replayFile } from "./sources/replay";

const USAGE = `usage:
  ha-influx-writer [--config <writerConfig.json> | --config -] [--shutdown-timeout <seconds>]
  ha-influx-writer replay <file.ndjson> [--config <file> | --config -] [--shutdown-timeout <seconds>]
  ha-influx-writer healthcheck [--config <file>]
  ha-influx-writer import <config-dir | home-assistant_v2.db> [options]   (import --help lists them)

  --config             the program's writerConfig output as JSON; "-" reads it from standard input;
                       defaults to $WRITER_CONFIG_FILE when set.
                       Environment variables (INFLUXDB_URL, INFLUXDB_TOKEN, …) override it.
  --shutdown-timeout   seconds SIGTERM/SIGINT gives the final flush (default ${DEFAULT_STOP_DEADLINE_MS / 1000});
                       whatever is not delivered by then stays in the spool for the next start.
`;

/** The container runtime kills a probe after its own timeout; answer before that. */
const HEALTHCHECK_TIMEOUT_MS = 3_000;
/** How often a replay reports what is still waiting for InfluxDB while it drains. */
const DRAIN_REPORT_MS = 5_000;

/** Resolves on the first SIGTERM or SIGINT; a second one exits at once (the spool keeps the data). */
function untilSignal(logger: Logger): { promise: Promise<NodeJS.Signals>; received: () => boolean } {
  let received = false;
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        logger.warn({ signal }, "second signal: exiting without waiting for the flush");
        process.exit(130);
      }
      received = true;
      resolve(signal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  return { promise, received: () => received };
}

async function run(config: WriterConfig, logger: Logger, deadlineMs: number): Promise<number> {
  const writer = await startWriter(config, { logger });
  const signal = await untilSignal(logger).promise;
  logger.info({ signal, deadlineMs }, "stopping: flushing to InfluxDB");
  await writer.stop(deadlineMs);
  return 0;
}

async function replay(file: string, config: WriterConfig, logger: Logger, deadlineMs: number): Promise<number> {
  const pipeline = createPipeline(config, { logger, metrics: createMetrics() });
  await pipeline.start();
  const signal = untilSignal(logger);
  const interrupt = new AbortController();
  void signal.promise.then(() => interrupt.abort());
  const summary = await replayFile(file, { sink: pipeline, output: process.stderr, signal: interrupt.signal });
  // Everything read is durable in the spool now; wait for InfluxDB to take it, until told to stop.
  let pending = (await pipeline.flush(DRAIN_REPORT_MS)).pendingEvents;
  while (pending > 0 && !signal.received()) {
    process.stderr.write(`waiting for InfluxDB: ${pending} events not yet acknowledged\n`);
    pending = (
      await Promise.race([pipeline.flush(DRAIN_REPORT_MS), signal.promise.then(() => ({ pendingEvents: pending }))])
    ).pendingEvents;
  }
  const result = await pipeline.stop(deadlineMs);
  process.stderr.write(
    `replayed ${summary.lines} lines${summary.interrupted ? " (interrupted before the end of the file)" : ""} ` +
      `in ${summary.seconds.toFixed(1)} s: ${summary.accepted} accepted, ` +
      `${summary.filtered} filtered, ${summary.rejected} rejected; ` +
      (result.drained ? "all delivered\n" : `${result.pendingEvents} events left in the spool for the next start\n`),
  );
  if (summary.interrupted) return 130;
  return summary.rejected > 0 ? 2 : 0;
}

/** Asks the writer on this host for `/healthz`. */
async function healthcheck(config: WriterConfig): Promise<number> {
  try {
    const url = `${localUrl(config.ingest.host, config.ingest.port)}/healthz`;
    const response = await fetch(url, { signal: AbortSignal.timeout(HEALTHCHECK_TIMEOUT_MS) });
    return response.ok ? 0 : 1;
  } catch (error) {
    process.stderr.write(`healthcheck: ${(error as Error).message}\n`);
    return 1;
  }
}

/** The command line's options (a function so that its result type can be named). */
function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      "shutdown-timeout": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** Parses the command line, runs the command and resolves with the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // The import has options of its own (import/command.ts).
  if (argv[0] === "import") return importMain(argv.slice(1), env);
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}`);
    return 1;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [command, file, ...extra] = positionals;
  const isReplay = command === "replay";
  const isHealthcheck = command === "healthcheck";
  const validCommand =
    command === undefined || (isReplay && file !== undefined) || (isHealthcheck && file === undefined);
  if (!validCommand || extra.length > 0) {
    process.stderr.write(USAGE);
    return 1;
  }
  const timeout = Number(values["shutdown-timeout"] ?? DEFAULT_STOP_DEADLINE_MS / 1000);
  if (!Number.isFinite(timeout) || timeout < 0) {
    process.stderr.write(`--shutdown-timeout must be a number of seconds, got "${values["shutdown-timeout"]}"\n`);
    return 1;
  }

  let config: WriterConfig;
  try {
    config = await loadConfig({ env, file: values.config ?? env.WRITER_CONFIG_FILE });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
  if (isHealthcheck) return healthcheck(config);
  const logger = createLogger({ level: config.logLevel, format: config.logFormat, secrets: secretsOf(config) });
  try {
    return isReplay ? await replay(file!, config, logger, timeout * 1000) : await run(config, logger, timeout * 1000);
  } catch (error) {
    logger.fatal({ err: error }, "the writer failed");
    return 1;
  } finally {
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
  }
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
