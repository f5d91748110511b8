// Benchmark: a year-long `weekday` pattern for about 50 entities, from the daily rollups and from raw
// events, side by side on one throwaway influxd. Prints the figures; asserts nothing.
//
//   npx ts-node --transpile-only scripts/bench-analysis.ts [sets=17] [days=365]
//
// Each set is a thermometer (a change every hour), a heater (a few changes a day) and an energy meter
// (a reading every hour), so 17 sets are 51 entities. The daily rollups are written by the real
// rollup Flux; both answers come from `analyze` (the library behind ha-influx-analyze).
import { type AnalysisRequest, analyze } from "../analysis/src/analyze";
import type { AnalysisConfig } from "../analysis/src/config";
import { dailyRollupFlux } from "../components/flux";
import { startInfluxd } from "../test/harness/influxd";
import { FIXTURE_TIME_ZONE, fixtureEntities, fixtureLines } from "../test/integration/analysis-fixture";

const sets = Number(process.argv[2] ?? 17);
const days = Number(process.argv[3] ?? 365);

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - started) / 1e6];
}

async function main(): Promise<void> {
  const server = await startInfluxd({ org: "home_assistant", bucket: "onboarded" });
  try {
    const headers = { authorization: `Token ${server.token}` };
    for (const name of ["home_assistant_events", "home_assistant_hourly", "home_assistant_daily"]) {
      const response = await fetch(`${server.url}/api/v2/buckets`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ orgID: server.orgId, name, retentionRules: [] }),
      });
      if (response.status !== 201) throw new Error(`bucket ${name}: HTTP ${response.status}`);
    }
    const stop = Date.parse("2025-12-31T23:00:00Z");
    const start = stop - days * 86_400_000;
    const entities = fixtureEntities(sets);
    const { lines } = fixtureLines(entities, start, stop);
    console.log(`${entities.length} entities, ${days} days, ${lines.length} raw events`);

    const [, writeMs] = await timed(async () => {
      for (let i = 0; i < lines.length; i += 10_000) {
        const response = await fetch(
          `${server.url}/api/v2/write?org=${server.org}&bucket=home_assistant_events&precision=s`,
          { method: "POST", headers, body: lines.slice(i, i + 10_000).join("\n") },
        );
        if (response.status !== 204) throw new Error(`write: HTTP ${response.status} ${await response.text()}`);
        process.stderr.write(`\rwritten ${Math.min(i + 10_000, lines.length)} / ${lines.length}`);
      }
      process.stderr.write("\n");
    });
    console.log(`write raw events: ${(writeMs / 1_000).toFixed(1)} s`);

    // The daily task's Flux, run as if at the end of each month (a lookback of 31 days), as the task
    // would have run over the months: one query over the whole range would outlast the HTTP timeout.
    const [, rollupMs] = await timed(async () => {
      for (let end = start + 30 * 86_400_000; ; end += 30 * 86_400_000) {
        const at = Math.min(end, stop);
        const flux = dailyRollupFlux({
          sourceBucket: "home_assistant_events",
          targetBucket: "home_assistant_daily",
          timeZone: FIXTURE_TIME_ZONE,
          lookback: "31d",
        });
        const response = await fetch(`${server.url}/api/v2/query?org=${server.org}`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify({ query: flux, now: new Date(at).toISOString() }),
        });
        if (response.status !== 200) throw new Error(`daily rollup: HTTP ${response.status} ${await response.text()}`);
        await response.text();
        process.stderr.write(`\rrolled up to ${new Date(at).toISOString()}`);
        if (at === stop) break;
      }
      process.stderr.write("\n");
    });
    console.log(
      `daily rollups of the whole range (the task's Flux, a run per 30 days): ${(rollupMs / 1_000).toFixed(1)} s`,
    );

    const config: AnalysisConfig = {
      url: server.url,
      org: server.org,
      token: server.token,
      timeZone: FIXTURE_TIME_ZONE,
      buckets: { events: "home_assistant_events", hourly: "home_assistant_hourly", daily: "home_assistant_daily" },
    };
    const request = (resolution: "raw" | "daily"): AnalysisRequest => ({
      pattern: "weekday",
      selection: { entities: [], domains: [], areas: [], deviceClasses: [] },
      start,
      stop,
      resolution,
      hemisphere: "north",
    });
    const dailyRuns: number[] = [];
    let fromDaily: Awaited<ReturnType<typeof analyze>> | undefined;
    for (let run = 0; run < 5; run++) {
      const [result, ms] = await timed(() => analyze(config, request("daily")));
      fromDaily = result;
      dailyRuns.push(ms);
    }
    const [fromRaw, rawMs] = await timed(() => analyze(config, request("raw")));
    const dailyMs = [...dailyRuns].sort((a, b) => a - b)[2];
    const agree = JSON.stringify(round(fromDaily!.series)) === JSON.stringify(round(fromRaw.series));
    console.log(
      `weekday pattern from daily rollups: ${dailyMs.toFixed(0)} ms (median of 5: ${dailyRuns.map((ms) => ms.toFixed(0)).join(", ")})`,
    );
    console.log(`weekday pattern from raw events:    ${(rawMs / 1_000).toFixed(1)} s (one run)`);
    console.log(
      `speed-up: ${(rawMs / dailyMs).toFixed(0)}x; the two answers ${agree ? "agree" : "DIFFER"} (${fromRaw.series.length} series)`,
    );
  } finally {
    await server.stop();
  }
}

/** Series with numbers rounded to 9 significant digits, for comparing the two answers. */
function round(series: unknown): unknown {
  return JSON.parse(
    JSON.stringify(series, (_key, value: unknown) =>
      typeof value === "number" ? Number(value.toPrecision(9)) : value,
    ),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
