import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { findInfluxd, locateInfluxd } from "../harness/influxd";

describe("locating influxd for the provider integration tests", () => {
  const saved = { PATH: process.env.PATH, CI: process.env.CI };
  afterEach(() => {
    process.env.PATH = saved.PATH;
    if (saved.CI === undefined) delete process.env.CI;
    else process.env.CI = saved.CI;
    vi.restoreAllMocks();
  });

  it("fails loudly in CI when influxd is not on PATH, naming what is missing", () => {
    process.env.PATH = "";
    process.env.CI = "true";
    expect(() => locateInfluxd()).toThrow(
      /influxd \(InfluxDB 2\.7\) is not on PATH.*CI is set, so this is a failure, not a skip/s,
    );
  });

  it.each([undefined, "", "false", "0"])("skips with a visible warning when CI is %j", (ci) => {
    process.env.PATH = "";
    if (ci === undefined) delete process.env.CI;
    else process.env.CI = ci;
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(locateInfluxd()).toBeUndefined();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("SKIPPED: influxd (InfluxDB 2.7) is not on PATH"));
  });

  it("finds influxd in any PATH directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "ha-influx-path-"));
    try {
      writeFileSync(join(dir, "influxd"), "");
      process.env.PATH = ["/nonexistent", dir].join(":");
      expect(findInfluxd()).toBe(join(dir, "influxd"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
