// The throwaway-influxd harness itself: it cleans up after a normal stop and after a process that
// dies without stopping its server.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { locateInfluxd, startInfluxd } from "../harness/influxd";

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

/** Polls until nothing answers at `url`; false if something still does after `attempts` tries. */
async function goesQuiet(url: string, attempts = 50): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (!(await answers(url))) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

describe.skipIf(locateInfluxd() === undefined)("the influxd harness", () => {
  it("serves an onboarded server, and stop() ends it and removes its directories; stopping twice is harmless", async () => {
    const server = await startInfluxd({ org: "harness-org", bucket: "harness-bucket" });
    expect(existsSync(server.dataDir)).toBe(true);
    const orgs = await fetch(`${server.url}/api/v2/orgs?org=harness-org`, {
      headers: { authorization: `Token ${server.token}` },
    });
    expect(orgs.status).toBe(200);
    expect(((await orgs.json()) as { orgs: { id: string }[] }).orgs[0].id).toBe(server.orgId);
    await server.stop();
    expect(await goesQuiet(server.url)).toBe(true);
    expect(existsSync(server.dataDir)).toBe(false);
    await server.stop();
  });

  it("a test process that exits without stopping takes its influxd and directories with it", async () => {
    const script = `const { startInfluxd } = await import(${JSON.stringify(join(__dirname, "../harness/influxd.ts"))});
      const server = await startInfluxd();
      process.stdout.write(JSON.stringify({ url: server.url, dataDir: server.dataDir }));
      process.exit(3);`;
    const child = await promisify(execFile)(process.execPath, [
      "--no-warnings",
      "--input-type=module",
      "-e",
      script,
    ]).catch((error: { code: number; stdout: string }) => error);
    expect("code" in child && child.code).toBe(3);
    const { url, dataDir } = JSON.parse(child.stdout) as { url: string; dataDir: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await goesQuiet(url)).toBe(true);
    expect(existsSync(dataDir)).toBe(false);
  });
});
