/**
 * Hostile ingest bodies against the built writer: peak memory and probe latency per body.
 *
 * For each body a fresh writer (the compiled CLI, ingest on, a local stand-in for InfluxDB answering
 * 204) is started and left to settle; its idle RSS is read, the body is POSTed to `/events` while
 * `/healthz` is asked every 20 ms, and the kernel's peak RSS of the process (`VmHWM`) is read after
 * the answer. The bound to hold is peak ≤ 2 × idle + body size.
 *
 * Run: `npm run bench:hostile --workspace writer` (builds first); `-- --json` prints JSON lines.
 * BENCH_SETTLE_MS (default 3000) sets the settle time.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 3000);
const TOKEN = "hostile-bench-ingest-token";
const MIB = 1024 * 1024;

interface Body {
  name: string;
  contentType: string;
  make(): Buffer;
}

/** A realistic event padded to about `bytes` of JSON. */
function event(i: number, bytes: number): string {
  const base = {
    entity_id: `sensor.s${i % 500}`,
    state: String(i % 100),
    attributes: {
      friendly_name: `Sensor ${i % 500}`,
      unit_of_measurement: "°C",
      device_class: "temperature",
      note: "",
    },
  };
  const padding = Math.max(0, bytes - JSON.stringify(base).length);
  base.attributes.note = "x".repeat(padding);
  return JSON.stringify(base);
}

const BODIES: Body[] = [
  {
    name: "NDJSON, 5M lines of 0 (10 MB)",
    contentType: "application/x-ndjson",
    make: () => Buffer.from("0\n".repeat(5_000_000)),
  },
  {
    name: "JSON array of 5M zeros (10 MB)",
    contentType: "application/json",
    make: () => Buffer.from(`[${"0,".repeat(4_999_999)}0]`),
  },
  {
    name: "JSON array, 10,000 events of 1 KB (limit)",
    contentType: "application/json",
    make: () => Buffer.from(`[${Array.from({ length: 10_000 }, (_, i) => event(i, 1040)).join(",")}]`),
  },
  {
    name: "NDJSON, 10,000 events of 1 KB (limit)",
    contentType: "application/x-ndjson",
    make: () => Buffer.from(Array.from({ length: 10_000 }, (_, i) => event(i, 1040)).join("\n")),
  },
  {
    name: "one event, 3.3M empty objects in an attribute",
    contentType: "application/json",
    make: () => Buffer.from(`{"entity_id":"light.a","state":"on","attributes":{"x":[${"{},".repeat(3_300_000)}{}]}}`),
  },
  {
    name: "JSON array, 40 events of 250 KB of empty objects",
    contentType: "application/json",
    make: () =>
      Buffer.from(
        `[${Array.from({ length: 40 }, (_, i) => `{"entity_id":"light.l${i}","state":"on","attributes":{"x":[${"{},".repeat(83_000)}{}]}}`).join(",")}]`,
      ),
  },
  {
    name: "JSON array, 10,000 events of 64 objects and arrays each (the container budget)",
    contentType: "application/json",
    make: () =>
      Buffer.from(
        `[${Array.from({ length: 10_000 }, (_, i) => `{"entity_id":"light.l${i}","state":"on","attributes":{"x":[${"{},".repeat(60)}{}]}}`).join(",")}]`,
      ),
  },
  {
    name: "one event, a 10 MB string attribute",
    contentType: "application/json",
    make: () => Buffer.from(`{"entity_id":"light.a","state":"on","attributes":{"x":"${"y".repeat(10 * MIB - 100)}"}}`),
  },
];

function statusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  if (!line) throw new Error(`no ${field} for ${pid}`);
  return Number(line.split(/\s+/)[1]);
}

async function waitForUrl(lines: string[]): Promise<string> {
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    for (const line of lines) {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(line);
      if (match) return match[1]!;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the writer did not report its URL");
}

async function measure(body: Body, influxUrl: string): Promise<Record<string, string | number>> {
  const dir = mkdtempSync(join(tmpdir(), "ha-influx-hostile-"));
  const configFile = join(dir, "writerConfig.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      influxdb: { url: influxUrl, org: "home_assistant", token: "hostile-bench-token" },
      ingest: { host: "127.0.0.1", port: 0, token: TOKEN },
      spool: { dir: join(dir, "spool") },
    }),
  );
  const cli = join(__dirname, "..", "..", "cli.js");
  const writer = spawn(process.execPath, [cli, "--config", configFile], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  writer.stdout!.on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n")));
  const exited = new Promise<void>((resolve) => writer.once("exit", () => resolve()));
  try {
    const url = await waitForUrl(lines);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const idleKb = statusKb(writer.pid!, "VmRSS");
    const payload = body.make();
    let posting = true;
    const probeMs: number[] = [];
    const probes = (async () => {
      while (posting) {
        const started = performance.now();
        await fetch(`${url}/healthz`);
        probeMs.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const started = performance.now();
    const response = await fetch(`${url}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": body.contentType },
      body: new Uint8Array(payload),
    });
    const answer = await response.text();
    const requestMs = performance.now() - started;
    posting = false;
    await probes;
    const peakKb = statusKb(writer.pid!, "VmHWM");
    const boundMb = (2 * idleKb) / 1024 + payload.length / MIB;
    return {
      body: body.name,
      "body MB": Number((payload.length / MIB).toFixed(1)),
      status: response.status,
      "answer bytes": answer.length,
      "request ms": Math.round(requestMs),
      "idle RSS MB": Number((idleKb / 1024).toFixed(1)),
      "peak RSS MB": Number((peakKb / 1024).toFixed(1)),
      "bound MB": Number(boundMb.toFixed(1)),
      within: peakKb / 1024 <= boundMb ? "yes" : "NO",
      "healthz max ms": Math.round(Math.max(0, ...probeMs)),
      "healthz answers": probeMs.length,
    };
  } finally {
    writer.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const json = process.argv.includes("--json");
  const influx = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(req.url?.startsWith("/health") ? 200 : 204).end());
  });
  await new Promise<void>((resolve) => influx.listen(0, "127.0.0.1", resolve));
  const influxUrl = `http://127.0.0.1:${(influx.address() as AddressInfo).port}`;
  const rows: Record<string, string | number>[] = [];
  try {
    for (const [i, body] of BODIES.entries()) {
      if (!json) process.stderr.write(`[${i + 1}/${BODIES.length}] ${body.name}\n`);
      const row = await measure(body, influxUrl);
      rows.push(row);
      if (json) console.log(JSON.stringify(row));
    }
  } finally {
    influx.close();
  }
  if (!json) {
    console.log(
      `node ${process.version}; a fresh writer per body, settled ${SETTLE_MS / 1000} s; bound = 2 × idle RSS + body size`,
    );
    console.table(rows);
  }
  if (rows.some((row) => row.within !== "yes")) process.exitCode = 3;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
