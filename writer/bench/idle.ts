/**
 * Idle memory of the writer (DESIGN target: RSS <= 60 MB): starts the compiled CLI as a user would,
 * against a local stand-in for InfluxDB that answers every write with 204, lets it settle with no
 * events, and prints its resident set size as the kernel reports it.
 *
 * Run: `npm run bench:idle --workspace writer` (builds the writer first).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 10_000);

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  if (!line) throw new Error(`no VmRSS for ${pid}`);
  return Number(line.split(/\s+/)[1]) / 1024;
}

async function main(): Promise<void> {
  const influx = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(req.url?.startsWith("/health") ? 200 : 204).end());
  });
  await new Promise<void>((resolve) => influx.listen(0, "127.0.0.1", resolve));
  const dir = mkdtempSync(join(tmpdir(), "ha-influx-idle-"));
  const configFile = join(dir, "writerConfig.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      influxdb: {
        url: `http://127.0.0.1:${(influx.address() as AddressInfo).port}`,
        org: "home_assistant",
        token: "idle-bench-token",
      },
      ingest: { host: "127.0.0.1", port: 0, token: "idle-bench-ingest-token" },
      spool: { dir: join(dir, "spool") },
    }),
  );
  // The build's CLI (dist/cli.js), two levels above this compiled file (dist/bench/bench/).
  const cli = join(__dirname, "..", "..", "cli.js");
  const writer = spawn(process.execPath, [cli, "--config", configFile], { stdio: ["ignore", "ignore", "inherit"] });
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    writer.once("exit", (code) => {
      exitCode = code;
      resolve();
    }),
  );
  try {
    const samples: number[] = [];
    const until = Date.now() + SETTLE_MS;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      if (exitCode !== undefined) throw new Error(`the writer exited with code ${exitCode} while idle`);
      samples.push(rssMb(writer.pid!));
    }
    console.log(
      `node ${process.version}; writer idle for ${SETTLE_MS / 1000} s (ingest on, no Home Assistant, no events)`,
    );
    console.table([
      { "RSS MB (last)": Number(samples.at(-1)!.toFixed(1)), "RSS MB (peak)": Number(Math.max(...samples).toFixed(1)) },
    ]);
  } finally {
    writer.kill("SIGTERM");
    await exited;
    influx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
