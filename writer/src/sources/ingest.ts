/**
 * HTTP ingest for upstream pipelines: `POST /events` with a JSON array (or one object) or NDJSON,
 * bearer-token auth compared in constant time, a body size limit, and a response that says for every
 * event whether it was accepted, filtered or rejected, and why.
 *
 * Status codes: 200 when no event was rejected; 207 (Multi-Status) when at least one was — still a
 * success class, so generic clients do not resend a batch whose rejects would be rejected again, yet a
 * client can tell a partial failure from the status line alone, without reading the body. 400 when
 * the body as a whole cannot be read, 401 without a valid token, 413 over the size limit, 415 for
 * other content types, 503 when the writer is shutting down or the spool is full (with `Retry-After`;
 * nothing of the request was accepted then).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { SubmitResult } from "../pipeline";
import { SpoolFullError } from "../spool";
import type { EventSink } from "./sink";

/** Source name passed to the sink. */
export const INGEST_SOURCE = "ingest";
/** Path of the ingest endpoint. */
export const INGEST_PATH = "/events";
const NDJSON_TYPES = ["application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"];

/** Settings of the ingest endpoint. */
export interface IngestOptions {
  /** Where events go. */
  sink: EventSink;
  /** Bearer token clients must present. */
  token: string;
  /** Largest accepted request body in bytes; larger bodies get 413 before they are parsed. */
  bodyLimitBytes: number;
}

/** One event's outcome in the response; `line` (1-based) is given for NDJSON bodies. */
export interface IngestEventResult {
  /** Position of the event in the body (0-based), counting bad NDJSON lines too. */
  index: number;
  /** Line of the event in an NDJSON body. */
  line?: number;
  /** What became of the event. */
  status: SubmitResult["status"];
  /** Machine-readable code when not accepted: the pipeline's codes, or `invalid_json` for an unreadable NDJSON line. */
  reason?: NonNullable<SubmitResult["reason"]> | "invalid_json";
  /** Human-readable explanation when not accepted. */
  message?: string;
  /** The entity, when the event named one. */
  entityId?: string;
}

/** The response body of `POST /events`. */
export interface IngestResponse {
  /** Events now durable in the spool. */
  accepted: number;
  /** Events that failed validation or could not be read. */
  rejected: number;
  /** Events valid but excluded by the include/exclude filters. */
  filtered: number;
  /** One entry per event, in body order. */
  results: IngestEventResult[];
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

/** A request body split into events; a class so that an NDJSON body is told from parsed JSON by `instanceof`. */
export class ParsedBody {
  events: unknown[] = [];
  /** Body position of each entry of `events`. */
  positions: number[] = [];
  /** Lines of NDJSON bodies, by position in `events`. */
  lines?: number[];
  /** Entries that could not be parsed at all. */
  unreadable: IngestEventResult[] = [];
}

/** Splits an NDJSON body into events, reporting unparseable lines by number instead of failing the body. */
export function parseNdjson(text: string): ParsedBody {
  const parsed = new ParsedBody();
  const lineNumbers: number[] = [];
  const lines = text.split("\n");
  let position = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    try {
      parsed.events.push(JSON.parse(line));
      parsed.positions.push(position);
      lineNumbers.push(i + 1);
    } catch (error) {
      parsed.unreadable.push({ index: position, line: i + 1, status: "rejected", reason: "invalid_json", message: (error as Error).message });
    }
    position += 1;
  }
  parsed.lines = lineNumbers;
  return parsed;
}

function fromJson(body: unknown): ParsedBody {
  const parsed = new ParsedBody();
  parsed.events = Array.isArray(body) ? body : [body];
  parsed.positions = parsed.events.map((_, i) => i);
  return parsed;
}

/** Merges the sink's results back into body order. */
export function buildResponse(body: ParsedBody, results: SubmitResult[]): IngestResponse {
  const all: IngestEventResult[] = [...body.unreadable];
  for (const result of results) {
    const entry: IngestEventResult = { index: body.positions[result.index], status: result.status };
    if (body.lines) entry.line = body.lines[result.index];
    if (result.reason !== undefined) entry.reason = result.reason;
    if (result.message !== undefined) entry.message = result.message;
    if (result.entityId !== undefined) entry.entityId = result.entityId;
    all.push(entry);
  }
  all.sort((a, b) => a.index - b.index);
  const count = (status: SubmitResult["status"]) => all.filter((r) => r.status === status).length;
  return { accepted: count("accepted"), rejected: count("rejected"), filtered: count("filtered"), results: all };
}

/**
 * Registers `POST /events` on a Fastify instance, inside its own encapsulated context so the
 * NDJSON parser and the auth hook apply to ingest only.
 */
export async function registerIngest(app: FastifyInstance, options: IngestOptions, isAcceptingEvents: () => boolean): Promise<void> {
  const authorized = bearerTokenMatcher(options.token);
  await app.register(async (ingest) => {
    ingest.addContentTypeParser(NDJSON_TYPES, { parseAs: "string", bodyLimit: options.bodyLimitBytes }, (_request, body, done) => {
      done(null, parseNdjson(body as string));
    });
    // onRequest runs before the body is read: an unauthenticated client cannot make us buffer megabytes.
    ingest.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
      if (!authorized(request.headers.authorization)) {
        reply.header("www-authenticate", 'Bearer realm="ha-influx-writer"');
        return reply.code(401).send({ error: "missing or invalid bearer token" });
      }
    });
    ingest.post(INGEST_PATH, { bodyLimit: options.bodyLimitBytes }, async (request, reply) => {
      if (!isAcceptingEvents()) {
        reply.header("retry-after", "5");
        return reply.code(503).send({ error: "the writer is shutting down" });
      }
      if (request.body === undefined || request.body === null) return reply.code(400).send({ error: "empty body" });
      const body = request.body instanceof ParsedBody ? request.body : fromJson(request.body);
      let results: SubmitResult[] = [];
      try {
        if (body.events.length > 0) results = await options.sink.submit(body.events, INGEST_SOURCE);
      } catch (error) {
        // Nothing of this body was acknowledged: the client resends it once InfluxDB has caught up.
        if (!(error instanceof SpoolFullError)) throw error;
        reply.header("retry-after", String(error.retryAfterSeconds));
        return reply.code(503).send({ error: "the spool is full: InfluxDB is unreachable or too slow; nothing of this request was accepted", message: error.message });
      }
      const response = buildResponse(body, results);
      return reply.code(response.rejected > 0 ? 207 : 200).send(response);
    });
  });
}
