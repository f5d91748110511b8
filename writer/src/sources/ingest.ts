/**
 * HTTP ingest for upstream pipelines: `POST /events` with a JSON array (or one object) or NDJSON in
 * UTF-8, bearer-token auth compared in constant time, limits on body size and on events per request,
 * and an answer that says what became of the events and why.
 *
 * Status codes: 200 when no event was rejected; 207 (Multi-Status) when at least one was — still a
 * success class, so generic clients do not resend a batch whose rejects would be rejected again, yet a
 * client can tell a partial failure from the status line alone, without reading the body. 400 when
 * the body as a whole cannot be read, 401 without a valid token, 413 over the size limit or the
 * events-per-request limit, 415 for other content types or charsets, 503 when the writer is shutting
 * down or could not store the events, the spool being full among the reasons (with `Retry-After`;
 * the answer says from which event on nothing was accepted).
 *
 * Work per request is bounded: events are counted before any is parsed (`ingestBody.ts`), submitted
 * to the pipeline in chunks with a turn of the event loop between them (`ingestSubmit.ts`), and the
 * answer lists every event only for bodies of at most `DETAILED_RESULTS_UP_TO` events; larger ones
 * get counts per reason and the first `SUMMARY_REJECTIONS` rejections.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { WriterMetrics } from "../metrics";
import { CONTAINERS_PER_EVENT, parseEntry, splitBody } from "./ingestBody";
import {
  DETAILED_RESULTS_UP_TO,
  type IngestEventResult,
  type IngestRejectReason,
  type IngestReport,
  type IngestResponse,
  SUMMARY_REJECTIONS,
} from "./ingestReport";
import { type BodySubmitOptions, RawBody, StoreFailure, storeFailureAnswer, submitBody } from "./ingestSubmit";
import { type EventSink, SinkFullError } from "./sink";

export {
  DETAILED_RESULTS_UP_TO,
  type IngestEventResult,
  type IngestRejectReason,
  type IngestResponse,
  SUMMARY_REJECTIONS,
};

/** Path of the ingest endpoint. */
export const INGEST_PATH = "/events";
const JSON_TYPES = ["application/json"];
const NDJSON_TYPES = ["application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"];

/** Settings of the ingest endpoint. */
export interface IngestOptions extends BodySubmitOptions {
  /** Where events go. */
  sink: EventSink;
  /** Bearer token clients must present. */
  token: string;
  /** Largest accepted request body in bytes; larger bodies get 413 before they are parsed. */
  bodyLimitBytes: number;
  /** Most events one request may carry; more get 413 before any is parsed. */
  maxEventsPerRequest: number;
  /** Largest event (its JSON text) in bytes; larger ones are rejected unparsed with `event_too_large`. */
  maxEventBytes: number;
  /** Counters for lines and requests refused before they reach the pipeline. */
  metrics: Pick<WriterMetrics, "eventsReceived" | "eventsRejected" | "ingestRequestsRejected">;
}

/** Compares a presented bearer token with the configured one in time independent of where they differ. */
export function bearerTokenMatcher(token: string): (authorization: string | undefined) => boolean {
  // Hashing first gives equal-length inputs, so not even the token's length leaks through timing.
  const expected = createHash("sha256").update(token).digest();
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match) return false;
    return timingSafeEqual(createHash("sha256").update(match[1]).digest(), expected);
  };
}

/** The charset a content type names, lower-cased; undefined when it names none. */
function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? "");
  return match?.[1]?.toLowerCase();
}

function httpError(statusCode: number, message: string, code: string): FastifyError {
  return Object.assign(new Error(message), { statusCode, code, name: "IngestError" });
}

/**
 * Registers `POST /events` on a Fastify instance, inside its own encapsulated context so the body
 * parsers, the auth hook and the error answers apply to ingest only.
 */
export async function registerIngest(
  app: FastifyInstance,
  options: IngestOptions,
  isAcceptingEvents: () => boolean,
): Promise<void> {
  const authorized = bearerTokenMatcher(options.token);
  const { metrics } = options;
  const refuseRequest = (reason: string) => metrics.ingestRequestsRejected.inc({ reason });
  const supported = `${[...JSON_TYPES, ...NDJSON_TYPES].join(", ")} in UTF-8`;
  await app.register(async (ingest) => {
    // Only the documented types: Fastify's defaults would also read text/plain and any charset.
    ingest.removeAllContentTypeParsers();
    for (const [types, format] of [
      [JSON_TYPES, "json"],
      [NDJSON_TYPES, "ndjson"],
    ] as const) {
      ingest.addContentTypeParser(
        [...types],
        { parseAs: "buffer", bodyLimit: options.bodyLimitBytes },
        (request, bytes, done) => {
          const charset = charsetOf(request.headers["content-type"]);
          if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
            done(
              httpError(415, `charset ${charset} is not supported: send ${supported}`, "unsupported_charset"),
              undefined,
            );
          } else done(null, new RawBody(format, bytes as Buffer));
        },
      );
    }
    ingest.setErrorHandler((error: FastifyError, request, reply) => {
      if (error.statusCode === 413) {
        refuseRequest("body_too_large");
        return reply.code(413).send({
          error: `the body is over ${options.bodyLimitBytes} bytes (ingest.maxBodyBytes)`,
          reason: "body_too_large",
          limit: options.bodyLimitBytes,
        });
      }
      if (error.statusCode === 415) {
        refuseRequest("unsupported_media_type");
        const message =
          error.code === "unsupported_charset"
            ? error.message
            : `content type ${JSON.stringify(request.headers["content-type"] ?? "")} is not supported: send ${supported}`;
        return reply.code(415).send({ error: message, reason: "unsupported_media_type" });
      }
      if (error.statusCode !== undefined && error.statusCode < 500)
        return reply.code(error.statusCode).send({ error: error.message });
      throw error;
    });
    // onRequest runs before the body is read: an unauthenticated client cannot make us buffer megabytes.
    ingest.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
      if (!authorized(request.headers.authorization)) {
        refuseRequest("unauthorized");
        reply.header("www-authenticate", 'Bearer realm="ha-influx-writer"');
        return reply.code(401).send({ error: "missing or invalid bearer token" });
      }
    });
    ingest.post(INGEST_PATH, { bodyLimit: options.bodyLimitBytes }, async (request, reply) => {
      if (!isAcceptingEvents()) {
        reply.header("retry-after", "5");
        return reply.code(503).send({ error: "the writer is shutting down" });
      }
      if (!(request.body instanceof RawBody)) {
        refuseRequest("empty_body");
        return reply.code(400).send({ error: "empty body", reason: "empty_body" });
      }
      const body = request.body;
      const split = await splitBody(body.bytes, body.format, options.maxEventsPerRequest);
      if (split.kind === "too_many_events") {
        refuseRequest("too_many_events");
        return reply.code(413).send({
          error: `the body has more than ${split.limit} events (ingest.maxEventsPerRequest); send them in smaller requests`,
          reason: "too_many_events",
          limit: split.limit,
        });
      }
      if (split.kind === "too_complex") {
        refuseRequest("too_complex");
        return reply.code(413).send({
          error: `the body has more than ${split.limit} JSON objects and arrays (${CONTAINERS_PER_EVENT} per event of ingest.maxEventsPerRequest); send them in smaller requests`,
          reason: "too_complex",
          limit: split.limit,
        });
      }
      if (split.kind === "invalid") {
        refuseRequest(split.reason);
        return reply.code(400).send({ error: split.message, reason: split.reason });
      }
      const [only] = split.entries;
      if (!split.array && body.format === "json" && only!.end - only!.start <= options.maxEventBytes) {
        // One value that is not an array: when it does not parse, the body as a whole is not JSON.
        try {
          parseEntry(body.bytes, only!);
        } catch (error) {
          refuseRequest("invalid_json");
          return reply
            .code(400)
            .send({ error: `the body is not JSON: ${(error as Error).message}`, reason: "invalid_json" });
        }
      }
      let outcome: IngestReport;
      try {
        outcome = await submitBody(body, split.entries, options);
      } catch (error) {
        if (!(error instanceof StoreFailure)) throw error;
        if (!(error.cause instanceof SinkFullError))
          request.log.error({ err: error.cause }, "ingest could not store events");
        const answer = storeFailureAnswer(error);
        reply.header("retry-after", String(answer.retryAfterSeconds));
        return reply.code(503).send(answer.body);
      }
      return reply.code(outcome.rejected > 0 ? 207 : 200).send(outcome.response());
    });
  });
}
