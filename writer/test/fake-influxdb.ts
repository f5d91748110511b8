/**
 * A local stand-in for InfluxDB's write API, enough for the writer's wiring tests: it answers writes
 * with 204, gunzips bodies, and keeps every line per bucket so tests can check what arrived.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

export class FakeInfluxDB {
  /** Lines received, by bucket. */
  readonly lines = new Map<string, string[]>();
  /** Authorization headers of write requests, to check the token is sent. */
  readonly authorizations: string[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakeInfluxDB> {
    const server = createServer();
    const fake = new FakeInfluxDB(server);
    server.on("request", (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const url = new URL(request.url ?? "/", "http://influx");
        if (request.method === "POST" && url.pathname === "/api/v2/write") {
          const raw = Buffer.concat(chunks);
          const body = (request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString();
          const bucket = url.searchParams.get("bucket") ?? "";
          const received = fake.lines.get(bucket) ?? [];
          received.push(...body.split("\n").filter((line) => line !== ""));
          fake.lines.set(bucket, received);
          fake.authorizations.push(request.headers.authorization ?? "");
          response.writeHead(204).end();
        } else if (url.pathname === "/health") {
          response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ name: "influxdb", status: "pass", version: "v2.7.12" }));
        } else if (url.pathname === "/ping") {
          response.writeHead(204, { "x-influxdb-version": "v2.7.12" }).end();
        } else {
          response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ code: "not found", message: "path not found" }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Lines received for `bucket` so far. */
  linesIn(bucket: string): string[] {
    return this.lines.get(bucket) ?? [];
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
