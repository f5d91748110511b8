/**
 * The benchmark's InfluxDB stand-in, run in its own process so that its work is not billed to the
 * pipeline under test: answers writes with 204, gunzips when asked, counts lines per bucket.
 * `GET /count?bucket=…` returns the count; `POST /reset` zeroes all counts.
 */
import { createServer } from "node:http";
import { gunzipSync } from "node:zlib";

const counts = new Map<string, number>();

function countLines(body: Buffer): number {
  let lines = 0;
  let start = 0;
  for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, start)) {
    if (i > start) lines += 1;
    start = i + 1;
  }
  return start < body.length ? lines + 1 : lines;
}

const server = createServer((request, response) => {
  const url = new URL(request.url ?? "/", "http://sink");
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    if (request.method === "POST" && url.pathname === "/api/v2/write") {
      const raw = Buffer.concat(chunks);
      const body = request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
      const bucket = url.searchParams.get("bucket") ?? "";
      counts.set(bucket, (counts.get(bucket) ?? 0) + countLines(body));
      response.writeHead(204).end();
    } else if (url.pathname === "/count") {
      response
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ lines: counts.get(url.searchParams.get("bucket") ?? "") ?? 0 }));
    } else if (url.pathname === "/reset") {
      counts.clear();
      response.writeHead(204).end();
    } else if (url.pathname === "/health") {
      response
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ name: "influxdb", status: "pass", version: "v2.7.12" }));
    } else {
      response.writeHead(204).end();
    }
  });
});

server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") process.send?.({ port: address.port });
});
process.on("disconnect", () => process.exit(0));
