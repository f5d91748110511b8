/**
 * Submitting a split `POST /events` body to the sink: parsed chunk by chunk with a turn of the event
 * loop between two chunks, each event's outcome by its position in the body, and the 503 answer when
 * the sink fails part-way (its refusal for want of room, `SinkFullError`, or any other failure).
 */
import { isUtf8 } from "node:buffer";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { WriterMetrics } from "../metrics";
import { type BodyEntry, type BodyFormat, isUtf8Entry, parseEntry } from "./ingestBody";
import { DETAILED_RESULTS_UP_TO, type IngestEventResult, type IngestRejectReason, IngestReport } from "./ingestReport";
import { type EventSink, INGEST_SOURCE, SinkFullError, type SubmitResult } from "./sink";

/** Events per `submit` call: one spool append each, and a turn of the event loop between two. */
const SUBMIT_CHUNK = 1000;
/** Text per `submit` call: bounds the parsed objects alive at once whatever the events hold. */
const SUBMIT_CHUNK_BYTES = 256 * 1024;
/** `Retry-After` (seconds) when storing failed for another reason than room. */
const STORE_FAILURE_RETRY_AFTER_SECONDS = 5;

/** What submitting a body needs of the ingest options. */
export interface BodySubmitOptions {
  sink: EventSink;
  maxEventBytes: number;
  metrics: Pick<WriterMetrics, "eventsReceived" | "eventsRejected">;
}

/** A request body as received, with the layout its content type announced. */
export class RawBody {
  constructor(
    readonly format: BodyFormat,
    readonly bytes: Buffer,
  ) {}
}

/** Thrown when the sink fails part-way: what was stored before stays stored, the rest was not processed. */
export class StoreFailure extends Error {
  constructor(
    readonly cause: unknown,
    readonly unprocessedFrom: number,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * Parses and submits a split body chunk by chunk (at most `SUBMIT_CHUNK` events or
 * `SUBMIT_CHUNK_BYTES` of text each), so that only one chunk's objects are alive at a time. Events
 * are independent: an unreadable NDJSON line or array element is rejected by its position, and the
 * others go on.
 */
export async function submitBody(
  body: RawBody,
  entries: readonly BodyEntry[],
  options: BodySubmitOptions,
): Promise<IngestReport> {
  const report = new IngestReport(entries.length <= DETAILED_RESULTS_UP_TO);
  const { metrics } = options;
  const bodyIsUtf8 = body.format === "json" || isUtf8(body.bytes);
  for (let from = 0; from < entries.length; ) {
    let to = from;
    let bytes = 0;
    while (to < entries.length && to - from < SUBMIT_CHUNK && (to === from || bytes < SUBMIT_CHUNK_BYTES)) {
      bytes += entries[to]!.end - entries[to]!.start;
      to++;
    }
    const events: unknown[] = [];
    const positions: number[] = [];
    const slots = new Array<IngestEventResult | undefined>(to - from);
    const unreadable = new Map<IngestRejectReason, number>();
    for (let i = from; i < to; i++) {
      const entry = entries[i]!;
      const refuse = (reason: IngestRejectReason, message: string) => {
        const result: IngestEventResult = { index: i, status: "rejected", reason, message };
        if (entry.line !== undefined) result.line = entry.line;
        slots[i - from] = result;
        unreadable.set(reason, (unreadable.get(reason) ?? 0) + 1);
      };
      if (entry.end - entry.start > options.maxEventBytes) {
        refuse(
          "event_too_large",
          `the event is ${entry.end - entry.start} bytes; at most ${options.maxEventBytes} (ingest.maxEventBytes)`,
        );
        continue;
      }
      if (!isUtf8Entry(body.bytes, entry, bodyIsUtf8)) {
        refuse("invalid_utf8", "the line is not valid UTF-8");
        continue;
      }
      try {
        events.push(parseEntry(body.bytes, entry));
        positions.push(i);
      } catch (error) {
        refuse("invalid_json", (error as Error).message);
      }
    }
    if (unreadable.size > 0) {
      let count = 0;
      for (const [reason, n] of unreadable) {
        metrics.eventsRejected.inc({ source: INGEST_SOURCE, reason }, n);
        count += n;
      }
      metrics.eventsReceived.inc({ source: INGEST_SOURCE }, count);
    }
    let results: SubmitResult[] = [];
    if (events.length > 0) {
      try {
        results = await options.sink.submit(events, INGEST_SOURCE);
      } catch (error) {
        throw new StoreFailure(error, from);
      }
    }
    for (const result of results) {
      const index = positions[result.index]!;
      const entry: IngestEventResult = { index, status: result.status };
      const line = entries[index]!.line;
      if (line !== undefined) entry.line = line;
      if (result.reason !== undefined) entry.reason = result.reason;
      if (result.message !== undefined) entry.message = result.message;
      if (result.entityId !== undefined) entry.entityId = result.entityId;
      slots[index - from] = entry;
    }
    for (const slot of slots) if (slot !== undefined) report.add(slot);
    from = to;
    if (to < entries.length) await yieldToEventLoop();
  }
  return report;
}

/** The 503 answer to a request whose events could not all be stored: the client resends from `unprocessedFrom` on. */
export function storeFailureAnswer(failure: StoreFailure): {
  retryAfterSeconds: number;
  body: { error: string; message?: string; unprocessedFrom: number };
} {
  const from = failure.unprocessedFrom;
  if (failure.cause instanceof SinkFullError) {
    // Nothing from `unprocessedFrom` on was acknowledged: the client resends it once InfluxDB has caught up.
    const accepted =
      from === 0
        ? "nothing of this request was accepted"
        : `events from index ${from} on were not accepted, those before are stored`;
    return {
      retryAfterSeconds: failure.cause.retryAfterSeconds,
      body: {
        error: `the spool is full: InfluxDB is unreachable or too slow; ${accepted}`,
        message: failure.message,
        unprocessedFrom: from,
      },
    };
  }
  return {
    retryAfterSeconds: STORE_FAILURE_RETRY_AFTER_SECONDS,
    body: {
      error: `could not store the events (${failure.message}); events from index ${from} on were not processed, those before are stored`,
      unprocessedFrom: from,
    },
  };
}
