/**
 * `ha-influx-writer import <config-dir-or-db>`: imports Home Assistant's recorder history.
 *
 * Given a configuration directory, the database is its `home-assistant_v2.db` and the registries come
 * from its `.storage`; given a database file, `.storage` beside it is used when present; `--db-url`
 * names a recorder on PostgreSQL instead (`source.ts` picks the database). The import
 * has its own spool (and checkpoint) in `<spool.dir>-import`, so it can run while the writer runs.
 *
 * Exit codes: 0 done and delivered; 1 bad input or configuration (one line on stderr); 2 done but
 * some rows were rejected; 3 done but not everything was delivered before the deadline (the rest stays
 * in the import spool, a rerun delivers it); 130 interrupted by SIGINT or SIGTERM (one line names the
 * checkpoint; rerunning continues after it; `interrupt.ts`).
 */
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, FiltersSchema, loadConfig, secretsOf, type WriterConfig } from "../config";
import { EntityFilter } from "../filters";
import { InfluxClient } from "../influxClient";
import { createLogger } from "../logger";
import { createMetrics } from "../metrics";
import { createPipeline } from "../pipeline";
import { DEFAULT_BUCKETS } from "../schema";
import { ZoneClock } from "../timezone";
import { CHECKPOINT_FILE } from "./checkpoint";
import { dryRunOutput } from "./dryRun";
import { type ImportSummary, importStates } from "./importer";
import { INTERRUPTED_EXIT_CODE, type InterruptedAt, interruptedText, interruptOnSignals } from "./interrupt";
import { createProgress } from "./progress";
import { RecorderError, type RecorderSource, type StateSelection } from "./recorder";
import { openSource } from "./source";
import { importStatistics, type StatisticsSummary, StatisticsWriteError } from "./statistics";
import { readStorage } from "./storage";
import { summaryJson, summaryText } from "./summary";

export const IMPORT_USAGE = `usage: ha-influx-writer import <config-dir | home-assistant_v2.db> [options]
       ha-influx-writer import [<config-dir>] --db-url postgresql://user:password@host:port/database [options]

  --db-url <url>        read the recorder from PostgreSQL (the directory, if given, only for its .storage
                        registries); without a password in the URL, PGPASSWORD is used
  --config <file|->     the program's writerConfig output (as for the writer); env vars override it
  --start <time>        first state to import (ISO 8601 date or date-time; default: the oldest)
  --stop <time>         import states before this time (default: up to the newest)
  --entity <id>         only this entity (repeatable, or comma-separated)
  --domain <domain>     only entities of this domain (repeatable, or comma-separated)
  --dry-run             print the rows per entity that would be imported; write nothing
  --json                print the summary as JSON on stdout
  --statistics          also import the long-term statistics into the hourly and daily rollup buckets
                        (hours before each entity's first raw state only)
  --hourly-bucket <b>   rollup bucket for hourly points (default ${DEFAULT_BUCKETS.hourly.name})
  --daily-bucket <b>    rollup bucket for daily points (default ${DEFAULT_BUCKETS.daily.name})
  --restart             ignore the checkpoint of an earlier run and start from the beginning
  --shutdown-timeout <s> seconds to wait at the end for InfluxDB to take everything (default 600)
`;

const DEFAULT_DRAIN_SECONDS = 600;
const DRAIN_REPORT_MS = 5_000;

class UsageError extends Error {}

function parseTime(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--${name} must be an ISO 8601 date or date-time, got "${value}"`);
  return ms / 1000;
}

function list(values: string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((value) => value.split(","))
    .map((value) => value.trim())
    .filter((value) => value !== "");
}

export { locate } from "./source";

/** The import's own spool directory, beside the writer's. */
export function importSpoolDir(config: WriterConfig): string {
  return join(dirname(config.spool.dir), `${basename(config.spool.dir)}-import`);
}

function parseImportArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      "db-url": { type: "string" },
      start: { type: "string" },
      stop: { type: "string" },
      entity: { type: "string", multiple: true },
      domain: { type: "string", multiple: true },
      "dry-run": { type: "boolean" },
      json: { type: "boolean" },
      restart: { type: "boolean" },
      statistics: { type: "boolean" },
      "hourly-bucket": { type: "string" },
      "daily-bucket": { type: "string" },
      "shutdown-timeout": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** Runs `import` with its arguments (after the word `import`); resolves with the exit code. */
export async function importMain(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let db: RecorderSource | undefined;
  try {
    let parsed: ReturnType<typeof parseImportArgs>;
    try {
      parsed = parseImportArgs(argv);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      process.stdout.write(IMPORT_USAGE);
      return 0;
    }
    if (positionals.length > 1 || (positionals.length === 0 && values["db-url"] === undefined))
      throw new UsageError("import needs exactly one configuration directory or database file (or --db-url)");
    const drainSeconds = Number(values["shutdown-timeout"] ?? DEFAULT_DRAIN_SECONDS);
    if (!Number.isFinite(drainSeconds) || drainSeconds < 0)
      throw new UsageError(`--shutdown-timeout must be a number of seconds, got "${values["shutdown-timeout"]}"`);
    const selection: StateSelection = {};
    const startTs = parseTime("start", values.start);
    const stopTs = parseTime("stop", values.stop);
    if (startTs !== undefined) selection.startTs = startTs;
    if (stopTs !== undefined) selection.stopTs = stopTs;
    const entities = list(values.entity);
    const domains = list(values.domain);
    if (entities.length > 0) selection.entities = entities;
    if (domains.length > 0) selection.domains = domains;

    const source = await openSource(positionals[0], values["db-url"]);
    const { database, configDir } = source;
    db = source.db;

    if (values["dry-run"]) {
      // A dry run writes nothing, so it needs no InfluxDB settings; the filters apply when a configuration is given.
      const filters =
        (values.config ?? env.WRITER_CONFIG_FILE)
          ? (await loadConfig({ env, file: values.config ?? env.WRITER_CONFIG_FILE })).filters
          : FiltersSchema.parse({});
      process.stdout.write(await dryRunOutput(db, database, selection, filters, values.json === true));
      return 0;
    }

    const config = await loadConfig({ env, file: values.config ?? env.WRITER_CONFIG_FILE });
    if (source.notice !== undefined) process.stderr.write(`${source.notice}\n`);
    const storage = readStorage(configDir);
    const spoolDir = importSpoolDir(config);
    const importConfig: WriterConfig = { ...config, spool: { ...config.spool, dir: spoolDir } };
    const logger = createLogger({
      level: config.logLevel,
      format: config.logFormat,
      secrets: secretsOf(config),
      destination: process.stderr,
    });
    const pipeline = createPipeline(importConfig, { logger, metrics: createMetrics() });
    // From before the spool opens, so that no signal finds the default handling (an exit without a word).
    const interrupt = interruptOnSignals(process.stderr, join(spoolDir, CHECKPOINT_FILE));
    let summary: ImportSummary;
    let delivered: { drained: boolean; pendingEvents: number };
    let statistics: StatisticsSummary | undefined;
    let rollupClient: InfluxClient | undefined;
    try {
      await pipeline.start();
      if (storage.timeZone !== undefined) pipeline.useTimeZone?.(storage.timeZone);
      summary = await importStates({
        db,
        registries: storage.registries,
        selection,
        filters: config.filters,
        sink: pipeline,
        checkpointDir: spoolDir,
        restart: values.restart === true,
        progress: (rowsToRead) => createProgress(process.stderr, rowsToRead),
        signal: interrupt.signal,
      });
      if (values.statistics && !summary.interrupted) {
        const filter = new EntityFilter(config.filters);
        const selected = (entityId: string) => {
          const domain = entityId.slice(0, entityId.indexOf("."));
          const chosen =
            entities.length + domains.length === 0 || entities.includes(entityId) || domains.includes(domain);
          return chosen && filter.passes(entityId, domain);
        };
        rollupClient = new InfluxClient({
          url: config.influxdb.url,
          org: config.influxdb.org,
          token: config.influxdb.token,
          writeTimeoutMs: config.influxdb.writeTimeoutSeconds * 1000,
          readTimeoutMs: config.influxdb.readTimeoutSeconds * 1000,
        });
        statistics = await importStatistics({
          db,
          registries: storage.registries,
          clock: new ZoneClock(config.timeZone ?? storage.timeZone ?? "UTC"),
          client: rollupClient,
          buckets: {
            hourly: values["hourly-bucket"] ?? DEFAULT_BUCKETS.hourly.name,
            daily: values["daily-bucket"] ?? DEFAULT_BUCKETS.daily.name,
          },
          ...(startTs !== undefined ? { startTs } : {}),
          ...(stopTs !== undefined ? { stopTs } : {}),
          entities: selected,
          signal: interrupt.signal,
        });
      }
      const deadline = Date.now() + drainSeconds * 1000;
      let result = await pipeline.flush(Math.min(DRAIN_REPORT_MS, drainSeconds * 1000));
      while (!result.drained && !interrupt.signal.aborted && Date.now() < deadline) {
        process.stderr.write(`waiting for InfluxDB: ${result.pendingEvents} points not yet acknowledged\n`);
        result = await pipeline.flush(Math.min(DRAIN_REPORT_MS, Math.max(0, deadline - Date.now())));
      }
      delivered = await pipeline.stop(interrupt.signal.aborted ? 0 : 5_000);
    } finally {
      interrupt.dispose();
      rollupClient?.close();
      // After a failure: what is spooled stays there for the next run (a no-op after the stop above).
      await pipeline.stop(0);
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    }
    const signal = interrupt.received();
    // A signal that came after the last point was delivered interrupted nothing.
    const phase: InterruptedAt["phase"] | undefined = summary.interrupted
      ? "states"
      : statistics?.interrupted
        ? "statistics"
        : signal !== undefined && !delivered.drained
          ? "delivery"
          : undefined;
    if (values.json)
      process.stdout.write(summaryJson(summary, delivered, statistics, phase !== undefined ? { signal } : undefined));
    else process.stderr.write(summaryText(summary, delivered, statistics));
    if (phase !== undefined && signal !== undefined) {
      process.stderr.write(
        interruptedText({
          signal,
          phase,
          checkpoint: summary.checkpoint,
          rowsRead: summary.rowsRead,
          rowsToRead: summary.rowsToRead,
          ...(summary.position !== undefined ? { position: summary.position } : {}),
          pendingPoints: delivered.pendingEvents,
        }),
      );
      return INTERRUPTED_EXIT_CODE;
    }
    if (!delivered.drained) return 3;
    return summary.rejected > 0 ? 2 : 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`import: ${error.message}\n${IMPORT_USAGE}`);
      return 1;
    }
    if (error instanceof RecorderError || error instanceof ConfigError || error instanceof StatisticsWriteError) {
      process.stderr.write(`import: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await db?.close();
  }
}
