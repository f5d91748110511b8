/**
 * One write request to InfluxDB's `/api/v2/write`, classified. The client library is not used for
 * writing: its `writeApi` retries inside a buffer that drops 30 % of the oldest lines on overflow and
 * its `close()` resolves before the last batches are acknowledged (DESIGN.md). Here one call is one
 * request; the caller owns retries, and a point counts as delivered only on a 204.
 */
import http from "node:http";
import https from "node:https";
import { gzipSync, constants as zlib } from "node:zlib";

/** Timestamps are written in microseconds: Home Assistant's own resolution (see `pipeline.ts`). */
export const WRITE_PRECISION = "us";

/** What InfluxDB's answer means for the batch. */
export type WriteOutcome =
  | { kind: "delivered" }
  /** Try the same request again later (429, 5xx, network error, timeout). */
  | {
      kind: "retry";
      reason: "rate_limited" | "unavailable" | "server_error" | "network" | "timeout";
      message: string;
      retryAfterMs?: number;
    }
  /** The token may not write here, or the org/bucket does not exist: keep the data, report unhealthy. */
  | { kind: "unauthorized"; status: number; message: string }
  /** The request body is too large: send it in smaller parts. */
  | { kind: "too_large"; message: string }
  /** The server refused points (400: nothing written; 422: the rest written). */
  | { kind: "rejected"; status: number; message: string };

/** Connection settings of the client. */
export interface InfluxClientOptions {
  /** Base URL of InfluxDB, e.g. `http://localhost:8086`. */
  url: string;
  /** Organisation name. */
  org: string;
  /** API token with write permission on the buckets. */
  token: string;
  /** Abort a write after this many milliseconds. */
  writeTimeoutMs: number;
  /** Abort a health or readiness probe after this many milliseconds. */
  readTimeoutMs: number;
}

/** An HTTP answer, body read (InfluxDB's error bodies are small; longer ones are cut). */
interface Answer {
  status: number;
  retryAfter: string | null;
  text: string;
}

const MAX_ERROR_BODY = 64 * 1024;

/**
 * Thin HTTP client for writes and readiness probes, on `node:http` with a keep-alive agent: `fetch`
 * would load undici, about 18 MB of resident memory for one POST per batch.
 */
export class InfluxClient {
  private readonly url: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly authorization: string;
  private readonly writePaths = new Map<string, string>();

  constructor(private readonly options: InfluxClientOptions) {
    this.url = new URL(options.url);
    this.transport = this.url.protocol === "https:" ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: 8 });
    this.authorization = `Token ${options.token}`;
  }

  /**
   * Sends line protocol (uncompressed; gzip is applied here at level 1: on line protocol it already
   * shrinks the body about tenfold, and higher levels cost several times the CPU for a few percent).
   * Compression runs synchronously: about 0.6 ms per 1000 lines, less than the stream machinery of
   * the asynchronous variant costs on a single core.
   * `cancel` aborts the request (the writer is stopping); the outcome then is a retry.
   */
  async write(bucket: string, body: Buffer, cancel?: AbortSignal): Promise<WriteOutcome> {
    const compressed = gzipSync(body, { level: zlib.Z_BEST_SPEED });
    const headers = {
      Authorization: this.authorization,
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Encoding": "gzip",
      Accept: "application/json",
    };
    let answer: Answer;
    try {
      answer = await this.post(bucket, headers, compressed, this.options.writeTimeoutMs, cancel);
    } catch (error) {
      if (cancel?.aborted) return { kind: "retry", reason: "network", message: "cancelled: the writer is stopping" };
      if ((error as Error).name === "TimeoutError") {
        return { kind: "retry", reason: "timeout", message: `no answer within ${this.options.writeTimeoutMs} ms` };
      }
      return { kind: "retry", reason: "network", message: describeNetworkError(error) };
    }
    if (answer.status === 204 || answer.status === 200) return { kind: "delivered" };
    return classify(answer.status, messageOf(answer), answer.retryAfter);
  }

  /**
   * Whether InfluxDB answers and lets this token write to `bucket`: an empty write is authorised and
   * checked for org and bucket like any other, and writes nothing. `cancel` aborts it (the writer is stopping).
   */
  async probe(bucket: string, cancel?: AbortSignal): Promise<WriteOutcome> {
    let answer: Answer;
    try {
      answer = await this.post(
        bucket,
        { Authorization: this.authorization, "Content-Type": "text/plain; charset=utf-8" },
        Buffer.alloc(0),
        this.options.readTimeoutMs,
        cancel,
      );
    } catch (error) {
      return { kind: "retry", reason: "network", message: describeNetworkError(error) };
    }
    if (answer.status < 300) return { kind: "delivered" };
    const outcome = classify(answer.status, messageOf(answer), answer.retryAfter);
    // An empty body may be refused as such (400): authorisation and the bucket were checked before that.
    return outcome.kind === "rejected" && answer.status === 400 ? { kind: "delivered" } : outcome;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /** The write path of a bucket, built once: it is the same for every batch. */
  private writePath(bucket: string): string {
    let path = this.writePaths.get(bucket);
    if (path === undefined) {
      const query = new URLSearchParams({ org: this.options.org, bucket, precision: WRITE_PRECISION });
      path = `${this.url.pathname.replace(/\/+$/, "")}/api/v2/write?${query.toString()}`;
      this.writePaths.set(bucket, path);
    }
    return path;
  }

  /**
   * One POST, ended by a timer after `timeoutMs` or by `cancel`. A plain timer and one listener, not
   * `AbortSignal.timeout`/`any` handed to `request`: that machinery cost 25–100 µs of CPU per request
   * (measured per 1000-line batch), nearly as much as the rest of the request, gzip aside.
   */
  private post(
    bucket: string,
    headers: Record<string, string>,
    body: Buffer,
    timeoutMs: number,
    cancel?: AbortSignal,
  ): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      if (cancel?.aborted) return reject(new Error("cancelled"));
      let timedOut = false;
      const finish = () => {
        clearTimeout(timer);
        cancel?.removeEventListener("abort", abort);
      };
      const abort = () => request.destroy(new Error("cancelled"));
      const fail = (error: Error) => {
        finish();
        reject(timedOut ? Object.assign(new Error("timeout"), { name: "TimeoutError" }) : error);
      };
      const request = this.transport.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          path: this.writePath(bucket),
          method: "POST",
          agent: this.agent,
          headers: { ...headers, "Content-Length": String(body.length) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          let length = 0;
          response.on("data", (chunk: Buffer) => {
            if (length < MAX_ERROR_BODY) chunks.push(chunk);
            length += chunk.length;
          });
          response.on("end", () => {
            finish();
            resolve({
              status: response.statusCode ?? 0,
              retryAfter: headerText(response.headers["retry-after"]),
              text: Buffer.concat(chunks).toString("utf8", 0, Math.min(length, MAX_ERROR_BODY)),
            });
          });
          response.on("error", fail);
        },
      );
      request.on("error", fail);
      // Armed only once the request exists: `request()` throws synchronously on a malformed header.
      const timer = setTimeout(() => {
        timedOut = true;
        request.destroy(new Error("timeout"));
      }, timeoutMs);
      cancel?.addEventListener("abort", abort, { once: true });
      request.end(body);
    });
  }
}

function headerText(value: string | string[] | undefined): string | null {
  return value === undefined ? null : Array.isArray(value) ? (value[0] ?? null) : value;
}

/** The `message` of InfluxDB's JSON error body, or the raw text. */
function messageOf(answer: Answer): string {
  try {
    const parsed = JSON.parse(answer.text) as { message?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
  } catch {
    // Not JSON (a proxy's error page, say): the text itself is the best reason there is.
  }
  return answer.text.slice(0, 2000) || `HTTP ${answer.status}`;
}

/** Maps a non-2xx answer to an outcome. */
export function classify(status: number, message: string, retryAfter: string | null, nowMs = Date.now()): WriteOutcome {
  const retryAfterMs = parseRetryAfter(retryAfter, nowMs);
  const withDelay = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (status === 429) return { kind: "retry", reason: "rate_limited", message, ...withDelay };
  if (status === 503) return { kind: "retry", reason: "unavailable", message, ...withDelay };
  if (status >= 500) return { kind: "retry", reason: "server_error", message: `${status}: ${message}`, ...withDelay };
  if (status === 413) return { kind: "too_large", message };
  if (status === 400 || status === 422) return { kind: "rejected", status, message };
  return { kind: "unauthorized", status, message: `${status}: ${message}` };
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function describeNetworkError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = (error as Error).message;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
