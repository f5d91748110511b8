/**
 * Backfill from an NDJSON file (one event per line, either accepted shape). Lines that are not JSON
 * or that the pipeline rejects are reported with their line number and skipped; the replay goes on.
 * Progress goes to a stream (the CLI passes stderr): a self-rewriting line on a terminal, a plain line
 * every few seconds otherwise, so logs of a CI job stay readable.
 */
import { createReadStream, statSync } from "node:fs";
import { createInterface } from "node:readline";
import type { EventSink } from "./sink";

/** Source name passed to the sink. */
export const REPLAY_SOURCE = "replay";
/** Lines per submission: large enough to amortise the spool's fsync, small enough to report promptly. */
const LINES_PER_SUBMIT = 1000;
/** Individually reported bad lines; beyond this only the count grows, so a wrong file cannot flood stderr. */
const MAX_REPORTED_BAD_LINES = 1000;

/** Settings of a replay. */
export interface ReplayOptions {
  /** Where events go. */
  sink: EventSink;
  /** Where progress and bad lines are written; rewritten in place when it is a terminal. */
  output: NodeJS.WritableStream & { isTTY?: boolean };
  /** Time between progress updates; defaults to 0.5 s on a terminal and 5 s otherwise. */
  progressIntervalMs?: number;
  /** Stops reading (what was read is still submitted) when aborted: SIGTERM during a long backfill. */
  signal?: AbortSignal;
}

/** What a replay did. */
export interface ReplaySummary {
  /** Non-empty lines read. */
  lines: number;
  /** Events durable in the spool. */
  accepted: number;
  /** Events excluded by the filters. */
  filtered: number;
  /** Lines that were not JSON or that the pipeline rejected. */
  rejected: number;
  /** Wall time in seconds. */
  seconds: number;
  /** True when the signal stopped the replay before the end of the file. */
  interrupted: boolean;
}

/** Streams `path` into the sink and resolves when every accepted event is durable in the spool. */
export async function replayFile(path: string, options: ReplayOptions): Promise<ReplaySummary> {
  const totalBytes = statSync(path).size;
  const input = createReadStream(path);
  const lines = createInterface({ input, crlfDelay: Infinity });
  const startedAt = process.hrtime.bigint();
  const summary: ReplaySummary = { lines: 0, accepted: 0, filtered: 0, rejected: 0, seconds: 0, interrupted: false };
  const tty = options.output.isTTY === true;
  const intervalMs = options.progressIntervalMs ?? (tty ? 500 : 5_000);
  let reported = 0;
  let lineNumber = 0;

  const elapsedSeconds = () => Number(process.hrtime.bigint() - startedAt) / 1e9;
  // On a terminal the progress line is rewritten in place; notes clear it and keep their own line.
  const write = (text: string) => options.output.write(tty ? `\r\x1b[K${text}` : `${text}\n`);
  const note = (text: string) => options.output.write(tty ? `\r\x1b[K${text}\n` : `${text}\n`);
  const progress = () => {
    const seconds = elapsedSeconds();
    const percent = totalBytes > 0 ? ((100 * input.bytesRead) / totalBytes).toFixed(1) : "100.0";
    write(
      `replay ${percent}% ${summary.lines} lines, ${Math.round(summary.lines / Math.max(seconds, 1e-3))} lines/s: ` +
        `${summary.accepted} accepted, ${summary.filtered} filtered, ${summary.rejected} rejected`,
    );
  };
  const reportBadLine = (line: number, reason: string) => {
    summary.rejected += 1;
    reported += 1;
    if (reported <= MAX_REPORTED_BAD_LINES) note(`line ${line}: ${reason}`);
    else if (reported === MAX_REPORTED_BAD_LINES + 1) note(`more bad lines follow; only their count is reported`);
  };

  let batch: unknown[] = [];
  let batchLines: number[] = [];
  const submit = async () => {
    if (batch.length === 0) return;
    const events = batch;
    const numbers = batchLines;
    batch = [];
    batchLines = [];
    const results = await options.sink.submit(events, REPLAY_SOURCE);
    for (const result of results) {
      if (result.status === "accepted") summary.accepted += 1;
      else if (result.status === "filtered") summary.filtered += 1;
      else reportBadLine(numbers[result.index], `${result.reason}: ${result.message}`);
    }
  };

  const timer = setInterval(progress, intervalMs);
  try {
    for await (const raw of lines) {
      if (options.signal?.aborted) {
        summary.interrupted = true;
        note(`interrupted after line ${lineNumber}`);
        break;
      }
      lineNumber += 1;
      const line = raw.trim();
      if (line === "") continue;
      summary.lines += 1;
      try {
        batch.push(JSON.parse(line));
        batchLines.push(lineNumber);
      } catch (error) {
        reportBadLine(lineNumber, `invalid_json: ${(error as Error).message}`);
      }
      if (batch.length >= LINES_PER_SUBMIT) await submit();
    }
    await submit();
  } finally {
    clearInterval(timer);
    input.destroy();
  }
  summary.seconds = elapsedSeconds();
  progress();
  if (tty) options.output.write("\n");
  return summary;
}
