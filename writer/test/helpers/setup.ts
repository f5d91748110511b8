/** Shared test setup: a configuration pointing at a fake InfluxDB and a fresh spool directory. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach } from "vitest";
import { resolveConfig, type WriterConfig } from "../../src/config";
import { createLogger, type Logger } from "../../src/logger";
import { createMetrics, type WriterMetrics } from "../../src/metrics";
import { createPipeline, type Pipeline } from "../../src/pipeline";
import { type FakeInflux, startFakeInflux } from "./fakeInflux";

/** A temporary directory removed by the returned function. */
export function tempDir(prefix = "ha-influx-writer-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A logger that keeps its JSON lines in memory (tests assert on them and nothing reaches stdout). */
export function memoryLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(
        ...chunk
          .toString("utf8")
          .split("\n")
          .filter((line) => line.length > 0),
      );
      callback();
    },
  });
  return { logger: createLogger({ level: "debug", format: "json", destination }), lines };
}

/** A resolved configuration for tests; `overrides` is merged into the writerConfig JSON. */
export function testConfig(url: string, spoolDir: string, overrides: Record<string, unknown> = {}): WriterConfig {
  const { influxdb, ...rest } = overrides as { influxdb?: Record<string, unknown> };
  return resolveConfig(
    {
      influxdb: {
        url,
        org: "home_assistant",
        token: "test-token-123456",
        batchSize: 1000,
        batchTimeoutSeconds: 0.05,
        ...influxdb,
      },
      spool: { dir: spoolDir },
      timeZone: "Europe/Berlin",
      ...rest,
    },
    {},
  );
}

/** A started pipeline with fast retries, its metrics and log lines. */
export async function startTestPipeline(
  config: WriterConfig,
): Promise<{ pipeline: Pipeline; metrics: WriterMetrics; logLines: string[] }> {
  const { logger, lines } = memoryLogger();
  const metrics = createMetrics({ processMetrics: false });
  const pipeline = createPipeline(config, { logger, metrics, retry: { baseMs: 5, maxMs: 40 } });
  await pipeline.start();
  return { pipeline, metrics, logLines: lines };
}

/** A Home Assistant `state_changed` event's data for tests. */
export function stateChanged(
  entityId: string,
  state: string,
  lastUpdated: string,
  extra: { attributes?: Record<string, unknown>; old?: { state: string; last_changed: string } } = {},
): Record<string, unknown> {
  return {
    entity_id: entityId,
    old_state: extra.old
      ? {
          entity_id: entityId,
          state: extra.old.state,
          attributes: {},
          last_changed: extra.old.last_changed,
          last_updated: extra.old.last_changed,
        }
      : null,
    new_state: {
      entity_id: entityId,
      state,
      attributes: extra.attributes ?? {},
      last_changed: lastUpdated,
      last_updated: lastUpdated,
    },
  };
}

/** Re-exported so the suites that take their helpers from here poll the same way as the rest. */
export { eventually } from "./eventually";

/** Per-test fake InfluxDB, spool directory and pipeline, torn down after each test. */
export interface PipelineHarness {
  /** The fake InfluxDB of the running test. */
  readonly fake: FakeInflux;
  /** The spool directory of the running test. */
  readonly spoolDir: string;
  /** The pipeline `start` created (stopped after the test). */
  readonly pipeline: Pipeline;
  /** Starts a pipeline against the fake; `overrides` is merged into the writerConfig JSON. */
  start(
    overrides?: Record<string, unknown>,
  ): Promise<{ pipeline: Pipeline; metrics: WriterMetrics; logLines: string[] }>;
}

/** Registers hooks that give every test in the calling `describe` a fresh harness. */
export function usePipelineHarness(): PipelineHarness {
  let fake: FakeInflux | undefined;
  let spool: ReturnType<typeof tempDir> | undefined;
  let pipeline: Pipeline | undefined;
  beforeEach(async () => {
    fake = await startFakeInflux();
    spool = tempDir();
  });
  afterEach(async () => {
    await pipeline?.stop(2000);
    pipeline = undefined;
    await fake?.close();
    spool?.remove();
  });
  return {
    get fake() {
      return fake!;
    },
    get spoolDir() {
      return spool!.dir;
    },
    get pipeline() {
      return pipeline!;
    },
    async start(overrides = {}) {
      const started = await startTestPipeline(testConfig(fake!.url, spool!.dir, overrides));
      pipeline = started.pipeline;
      return started;
    },
  };
}

/** The `state_value` of a line protocol line. */
export function stateOf(line: string): string {
  return /state_value="([^"]*)"/.exec(line)![1]!;
}
