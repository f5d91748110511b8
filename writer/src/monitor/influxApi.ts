/**
 * The InfluxDB HTTP calls the monitor makes, with one clear error per failure: JSON API reads and
 * `/metrics` by `fetch`, Flux queries through `@influxdata/influxdb-client` (it parses annotated CSV).
 * Every error message names the endpoint and what was wrong, and never the token.
 */
import { InfluxDB, type QueryApi } from "@influxdata/influxdb-client";

/** Where and as whom the monitor reads. */
export interface InfluxApiOptions {
  url: string;
  org: string;
  /** The monitor token. */
  token: string;
  /** Per-request timeout in milliseconds. */
  timeoutMs: number;
  /** influxd's Prometheus endpoint; default `<url>/metrics`. */
  metricsUrl?: string;
}

/** A failed call: `endpoint` says which, the message what happened. */
export class InfluxApiError extends Error {
  constructor(
    readonly endpoint: string,
    detail: string,
    readonly status?: number,
  ) {
    super(`${endpoint}: ${detail}`);
    this.name = "InfluxApiError";
  }
}

export class InfluxApi {
  private readonly base: string;
  private readonly queryApi: QueryApi;

  constructor(readonly options: InfluxApiOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.queryApi = new InfluxDB({ url: this.base, token: options.token, timeout: options.timeoutMs }).getQueryApi(options.org);
  }

  /** GET of a JSON API path (`/api/v2/...`); throws `InfluxApiError` unless the answer is 200 with a JSON object. */
  async getJson(path: string): Promise<Record<string, unknown>> {
    const endpoint = `GET ${path.split("?")[0]}`;
    const text = await this.fetchText(endpoint, `${this.base}${path}`, { Authorization: `Token ${this.options.token}`, Accept: "application/json" });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new InfluxApiError(endpoint, `answer is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new InfluxApiError(endpoint, "answer is not a JSON object");
    return body as Record<string, unknown>;
  }

  /** influxd's `/metrics` text. */
  async metricsText(): Promise<string> {
    const url = this.options.metricsUrl ?? `${this.base}/metrics`;
    return this.fetchText(`GET ${new URL(url).pathname}`, url, { Accept: "text/plain" });
  }

  /** Rows of a Flux query as objects (column → text), each with its `result` name. */
  async query(flux: string, what: string): Promise<Record<string, string>[]> {
    try {
      return await this.queryApi.collectRows(flux, (values, meta) => meta.toObject(values) as Record<string, string>);
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      const body = (error as { body?: string }).body;
      let detail = (error as Error).message;
      if (body) {
        try {
          detail = (JSON.parse(body) as { message?: string }).message ?? detail;
        } catch {
          // keep the client's message
        }
      }
      throw new InfluxApiError(`Flux query (${what})`, status === undefined ? detail : `HTTP ${status}: ${detail}`, status);
    }
  }

  private async fetchText(endpoint: string, url: string, headers: Record<string, string>): Promise<string> {
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const detail = (error as Error).name === "TimeoutError" ? `no answer within ${this.options.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new InfluxApiError(endpoint, `server unreachable (${detail})`);
    }
    const text = await response.text().catch(() => "");
    if (response.status !== 200) {
      let detail = text.slice(0, 200);
      try {
        detail = (JSON.parse(text) as { message?: string }).message ?? detail;
      } catch {
        // not JSON: keep the text
      }
      throw new InfluxApiError(endpoint, `HTTP ${response.status}${detail ? `: ${detail}` : ""}`, response.status);
    }
    return text;
  }
}

/** Writes line protocol of second precision to `bucket` with `token` (the writer's, which may write there). */
export async function writeLines(options: { url: string; org: string; bucket: string; token: string; timeoutMs: number }, lines: string): Promise<void> {
  const endpoint = "POST /api/v2/write";
  const query = new URLSearchParams({ org: options.org, bucket: options.bucket, precision: "s" });
  let response: Response;
  try {
    response = await fetch(`${options.url.replace(/\/+$/, "")}/api/v2/write?${query}`, {
      method: "POST",
      headers: { Authorization: `Token ${options.token}`, "Content-Type": "text/plain; charset=utf-8" },
      body: lines,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    throw new InfluxApiError(endpoint, `server unreachable (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message})`);
  }
  if (response.status !== 204) throw new InfluxApiError(endpoint, `HTTP ${response.status}: ${(await response.text().catch(() => "")).slice(0, 200)}`, response.status);
}
