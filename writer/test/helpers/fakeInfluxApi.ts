/**
 * A local HTTP server that answers the InfluxDB read API the storage monitor calls (`/api/v2/buckets`,
 * `/metrics`, `/api/v2/query`, `/api/v2/tasks`, …) with fixed answers by path, the query string
 * ignored; any other path is a 404 as influxd writes it. A successful Flux query is answered as
 * annotated CSV, everything else as JSON.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** Answers by path: a status (default 200) and a body. */
export type FakeRoutes = Record<string, { status?: number; body: string }>;

export interface FakeInfluxApi {
  url: string;
  close(): Promise<void>;
}

export async function startFakeInfluxApi(routes: FakeRoutes): Promise<FakeInfluxApi> {
  const server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0]!;
    const route = routes[path] ?? { status: 404, body: '{"code":"not found","message":"path not found"}' };
    const status = route.status ?? 200;
    response.writeHead(status, {
      "content-type": path === "/api/v2/query" && status === 200 ? "text/csv" : "application/json",
    });
    response.end(route.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
