/**
 * A local HTTP server that answers `/api/v2/write` as InfluxDB 2.7 does, scripted per test: it gunzips
 * the body, records every request, and lets the test decide each answer. Lines that got a 204 are kept
 * in `accepted`, so tests can check exactly what InfluxDB acknowledged.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

/** One write request as the server saw it. */
export interface SeenRequest {
  bucket: string;
  org: string;
  precision: string;
  authorization: string | undefined;
  contentEncoding: string | undefined;
  lines: string[];
}

/** How the server answers one request: `undefined` means 204, `drop` cuts the connection, `hang` never answers. */
export type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | "drop" | "hang" | undefined;

/** The scripted server. */
export interface FakeInflux {
  url: string;
  requests: SeenRequest[];
  /** Lines answered with 204, per bucket, in arrival order. */
  accepted: Map<string, string[]>;
  /** Decides the answer to each request (default: 204). */
  answer: (request: SeenRequest, index: number) => Answer;
  acceptedLines(bucket?: string): string[];
  close(): Promise<void>;
}

/** Starts a fake InfluxDB on a free loopback port. */
export async function startFakeInflux(): Promise<FakeInflux> {
  const fake: FakeInflux = {
    url: "",
    requests: [],
    accepted: new Map(),
    answer: () => undefined,
    acceptedLines(bucket?: string) {
      if (bucket !== undefined) return fake.accepted.get(bucket) ?? [];
      return [...fake.accepted.values()].flat();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const raw = Buffer.concat(chunks);
      const text = (req.headers["content-encoding"] === "gzip" && raw.length > 0 ? gunzipSync(raw) : raw).toString(
        "utf8",
      );
      const seen: SeenRequest = {
        bucket: url.searchParams.get("bucket") ?? "",
        org: url.searchParams.get("org") ?? "",
        precision: url.searchParams.get("precision") ?? "",
        authorization: req.headers.authorization,
        contentEncoding: req.headers["content-encoding"],
        lines: text.split("\n").filter((line) => line.length > 0),
      };
      const index = fake.requests.length;
      fake.requests.push(seen);
      const answer = fake.answer(seen, index);
      if (answer === "hang") return;
      if (answer === "drop") {
        req.socket.destroy();
        return;
      }
      if (answer === undefined || answer.status === 204) {
        const list = fake.accepted.get(seen.bucket) ?? [];
        list.push(...seen.lines);
        fake.accepted.set(seen.bucket, list);
        res.writeHead(204).end();
        return;
      }
      res.writeHead(answer.status, { "Content-Type": "application/json", ...(answer.headers ?? {}) });
      res.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
