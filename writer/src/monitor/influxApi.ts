/**
 * The InfluxDB HTTP calls the monitor makes, with one clear error per failure: JSON API reads,
 * `/metrics` and writes on `node:http` (as the writer's own client: `fetch` would load undici, about
 * 17 MB more resident memory in a service that runs for months), Flux queries through
 * `@influxdata/influxdb-client` (it parses annotated CSV, on `node:http` too).
 * Every error message names the endpoint and what was wrong, and never the token.
 */
import http from "node:http";
import https from "node:https";
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
    this.queryApi = new InfluxDB({ url: this.base, token: options.token, timeout: options.timeoutMs }).getQueryApi(
      options.org,
    );
  }

  /** GET of a JSON API path (`/api/v2/...`); throws `InfluxApiError` unless the answer is 200 with a JSON object. */
  async getJson(path: string): Promise<Record<string, unknown>> {
    const endpoint = `GET ${path.split("?")[0]}`;
    const text = await this.getText(endpoint, `${this.base}${path}`, {
      Authorization: `Token ${this.options.token}`,
      Accept: "application/json",
    });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new InfluxApiError(endpoint, `answer is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
    }
    if (body === null || typeof body !== "object" || Array.isArray(body))
      throw new InfluxApiError(endpoint, "answer is not a JSON object");
    return body as Record<string, unknown>;
  }

  /** influxd's `/metrics` text. */
  async metricsText(): Promise<string> {
    const url = this.options.metricsUrl ?? `${this.base}/metrics`;
    return this.getText(`GET ${new URL(url).pathname}`, url, { Accept: "text/plain" });
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
      throw new InfluxApiError(
        `Flux query (${what})`,
        status === undefined ? detail : `HTTP ${status}: ${detail}`,
        status,
      );
    }
  }

  private async getText(endpoint: string, url: string, headers: Record<string, string>): Promise<string> {
    const { status, text } = await request(endpoint, "GET", url, headers, undefined, this.options.timeoutMs);
    if (status !== 200) {
      let detail = text.slice(0, 200);
      try {
        detail = (JSON.parse(text) as { message?: string }).message ?? detail;
      } catch {
        // not JSON: keep the text
      }
      throw new InfluxApiError(endpoint, `HTTP ${status}${detail ? `: ${detail}` : ""}`, status);
    }
    return text;
  }
}

/** A Flux string literal: JSON's escapes plus `$`, which would start an interpolation. */
export function fluxString(text: string): string {
  return JSON.stringify(text).replace(/\$/g, "\\$");
}

/** Writes line protocol of second precision to `bucket` with `token` (the writer's, which may write there). */
export async function writeLines(
  options: { url: string; org: string; bucket: string; token: string; timeoutMs: number },
  lines: string,
): Promise<void> {
  const endpoint = "POST /api/v2/write";
  const query = new URLSearchParams({ org: options.org, bucket: options.bucket, precision: "s" });
  const headers = { Authorization: `Token ${options.token}`, "Content-Type": "text/plain; charset=utf-8" };
  const { status, text } = await request(
    endpoint,
    "POST",
    `${options.url.replace(/\/+$/, "")}/api/v2/write?${query}`,
    headers,
    lines,
    options.timeoutMs,
  );
  if (status !== 204) throw new InfluxApiError(endpoint, `HTTP ${status}: ${text.slice(0, 200)}`, status);
}

/** One HTTP exchange; network failures and timeouts become an `InfluxApiError` for `endpoint`. */
function request(
  endpoint: string,
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === "https:" ? https.request : http.request;
    const req = send(
      target,
      { method, headers: body === undefined ? headers : { ...headers, "Content-Length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", (error) => reject(new InfluxApiError(endpoint, `answer broken off (${error.message})`)));
      },
    );
    req.setTimeout(timeoutMs, () =>
      req.destroy(new InfluxApiError(endpoint, `server unreachable (no answer within ${timeoutMs} ms)`)),
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        error instanceof InfluxApiError
          ? error
          : new InfluxApiError(endpoint, `server unreachable (${error.code ?? error.message})`),
      ),
    );
    req.end(body);
  });
}
