/**
 * One write request to InfluxDB's `/api/v2/write`, classified. The client library is not used for
 * writing: its `writeApi` retries inside a buffer that drops 30 % of the oldest lines on overflow and
 * its `close()` resolves before the last batches are acknowledged (DESIGN.md). Here one call is one
 * request; the caller owns retries, and a point counts as delivered only on a 204.
 */
import { promisify } from "node:util";
import { gzip as gzipCallback, constants as zlib } from "node:zlib";

const gzip = promisify(gzipCallback);

/** Timestamps are written in microseconds: Home Assistant's own resolution (see `pipeline.ts`). */
export const WRITE_PRECISION = "us";

/** What InfluxDB's answer means for the batch. */
export type WriteOutcome =
  | { kind: "delivered" }
  /** Try the same request again later (429, 5xx, network error, timeout). */
  | { kind: "retry"; reason: "rate_limited" | "unavailable" | "server_error" | "network" | "timeout"; message: string; retryAfterMs?: number }
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

/** Thin HTTP client for writes and readiness probes. */
export class InfluxClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: InfluxClientOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.headers = {
      Authorization: `Token ${options.token}`,
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Encoding": "gzip",
      Accept: "application/json",
    };
  }

  /**
   * Sends line protocol (uncompressed; gzip is applied here at level 1: on line protocol it already
   * shrinks the body about tenfold, and higher levels cost several times the CPU for a few percent).
   */
  async write(bucket: string, body: Buffer, cancel?: AbortSignal): Promise<WriteOutcome> {
    const compressed = await gzip(body, { level: zlib.Z_BEST_SPEED });
    const timeout = AbortSignal.timeout(this.options.writeTimeoutMs);
    let response: Response;
    try {
      response = await fetch(this.writeUrl(bucket), {
        method: "POST",
        headers: this.headers,
        body: compressed,
        signal: cancel ? AbortSignal.any([timeout, cancel]) : timeout,
      });
    } catch (error) {
      if (cancel?.aborted) return { kind: "retry", reason: "network", message: "cancelled: the writer is stopping" };
      const name = (error as Error).name;
      if (name === "TimeoutError" || name === "AbortError") {
        return { kind: "retry", reason: "timeout", message: `no answer within ${this.options.writeTimeoutMs} ms` };
      }
      return { kind: "retry", reason: "network", message: describeNetworkError(error) };
    }
    if (response.status === 204 || response.status === 200) {
      await response.body?.cancel();
      return { kind: "delivered" };
    }
    return classify(response.status, await readMessage(response), response.headers.get("retry-after"));
  }

  /**
   * Whether InfluxDB answers and lets this token write to `bucket`: an empty write is authorised and
   * checked for org and bucket like any other, and writes nothing.
   */
  async probe(bucket: string): Promise<WriteOutcome> {
    let response: Response;
    try {
      response = await fetch(this.writeUrl(bucket), {
        method: "POST",
        headers: { Authorization: this.headers.Authorization!, "Content-Type": "text/plain; charset=utf-8" },
        body: "",
        signal: AbortSignal.timeout(this.options.readTimeoutMs),
      });
    } catch (error) {
      return { kind: "retry", reason: "network", message: describeNetworkError(error) };
    }
    if (response.status < 300) {
      await response.body?.cancel();
      return { kind: "delivered" };
    }
    const outcome = classify(response.status, await readMessage(response), response.headers.get("retry-after"));
    // An empty body may be refused as such (400): authorisation and the bucket were checked before that.
    return outcome.kind === "rejected" && response.status === 400 ? { kind: "delivered" } : outcome;
  }

  private writeUrl(bucket: string): string {
    const query = new URLSearchParams({ org: this.options.org, bucket, precision: WRITE_PRECISION });
    return `${this.base}/api/v2/write?${query.toString()}`;
  }
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

/** The `message` of InfluxDB's JSON error body, or the raw text. */
async function readMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    const parsed = JSON.parse(text) as { message?: unknown; code?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
  } catch {
    // Not JSON (a proxy's error page, say): the text itself is the best reason there is.
  }
  return text.slice(0, 2000) || `HTTP ${response.status}`;
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ? `${cause.code}: ${cause.message ?? ""}`.trim() : (error as Error).message;
}
