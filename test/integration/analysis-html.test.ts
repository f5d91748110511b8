// The HTML report of ha-influx-analyze in a real headless Chromium (the system's, driven by
// playwright-core; no browser download): it renders, every chart draws one mark per row with a value,
// and a screenshot is kept in test-output/ (a CI artifact).
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { main } from "../../analysis/src/cli";
import { dailyRollupFlux, hourlyRollupFlux } from "../../components/flux";
import { findOnPath, inCi, locateInfluxd } from "../harness/influxd";
import { useInfluxd } from "../harness/vitest";
import { FIXTURE_TIME_ZONE, fixtureEntities, fixtureLines } from "./analysis-fixture";
import { influxApi } from "./rollups-helpers";

const chromiumPath = findOnPath("chromium") ?? findOnPath("chromium-browser");
if (!chromiumPath) {
  const message =
    "chromium is not on PATH (Debian: apt-get install chromium): the HTML report cannot be tested in a browser";
  if (inCi()) throw new Error(`${message} (CI is set, so this is a failure, not a skip)`);
  console.warn(`\n*** SKIPPED: ${message}\n`);
}
const influxdFound = locateInfluxd() !== undefined;
const OUTPUT = join(__dirname, "../../test-output/analysis");

describe.skipIf(!influxdFound || !chromiumPath)("the HTML report in headless Chromium", { timeout: 300_000 }, () => {
  const server = useInfluxd({ org: "home_assistant", bucket: "onboarded" });

  it("renders every chart with the expected number of marks", async () => {
    const api = influxApi(server());
    for (const bucket of ["home_assistant_events", "home_assistant_hourly", "home_assistant_daily"])
      await api.createBucket(bucket);
    // 1 Nov 2025 .. 1 Jan 2026 in Berlin: two months of the planted history
    const [start, stop] = [Date.parse("2025-10-31T23:00:00Z"), Date.parse("2025-12-31T23:00:00Z")];
    await api.write("home_assistant_events", fixtureLines(fixtureEntities(), start, stop).lines);
    const end = new Date(stop).toISOString();
    await api.query(
      hourlyRollupFlux({
        sourceBucket: "home_assistant_events",
        targetBucket: "home_assistant_hourly",
        timeZone: FIXTURE_TIME_ZONE,
        lookback: "1464h",
      }),
      end,
    );
    await api.query(
      dailyRollupFlux({
        sourceBucket: "home_assistant_events",
        targetBucket: "home_assistant_daily",
        timeZone: FIXTURE_TIME_ZONE,
        lookback: "61d",
      }),
      end,
    );

    const configFile = join(mkdtempSync(join(tmpdir(), "ha-influx-html-")), "analysis.json");
    writeFileSync(
      configFile,
      JSON.stringify({ url: server().url, org: server().org, token: server().token, timeZone: FIXTURE_TIME_ZONE }),
      { mode: 0o600 },
    );
    mkdirSync(OUTPUT, { recursive: true });
    const page = join(OUTPUT, "report.html");
    const code = await main(
      [
        "--config",
        configFile,
        "--format",
        "html",
        "--entity",
        "sensor.living_temperature",
        "--start",
        "2025-11-01",
        "--stop",
        "2026-01-01",
        "--output",
        page,
      ],
      {},
      () => {},
      () => {},
    );
    expect(code).toBe(0);

    const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
    try {
      const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      tab.on("pageerror", (error) => errors.push(error.message));
      await tab.goto(`file://${page}`);
      const figures = await tab.$$eval("figure", (nodes) =>
        nodes.map((figure) => ({
          pattern: figure.getAttribute("data-pattern"),
          expected: Number(figure.getAttribute("data-marks")),
          marks: figure.querySelectorAll("g.mark-rect.role-mark path").length,
          width: figure.querySelector("svg")?.getBoundingClientRect().width ?? 0,
        })),
      );
      expect(errors).toEqual([]);
      expect(figures.map((figure) => figure.pattern)).toEqual([
        "hour",
        "weekday",
        "hour-weekday",
        "week",
        "month",
        "season",
        "year",
        "calendar",
      ]);
      // one entity over two months: 24 hours, 7 weekdays, 168 cells, 10 ISO weeks (W44..W52, W01), 2 months, 2 seasons (SON, DJF), 1 year, 61 days
      expect(Object.fromEntries(figures.map((figure) => [figure.pattern, figure.marks]))).toEqual({
        hour: 24,
        weekday: 7,
        "hour-weekday": 168,
        week: 10,
        month: 2,
        season: 2,
        year: 1,
        calendar: 61,
      });
      for (const figure of figures) {
        expect(figure.marks).toBe(figure.expected);
        expect(figure.width).toBeGreaterThan(100);
      }
      await tab.screenshot({ path: join(OUTPUT, "report.png"), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
