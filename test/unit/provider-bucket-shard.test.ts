// The shard-group duration InfluxDB gives a new bucket, which a bucket update falls back to when the
// server's current one no longer fits a shorter retention (checked against a real influxd in
// test/integration/provider.test.ts).
import { describe, expect, it } from "vitest";
import { defaultShardGroupSeconds } from "../../components/provider";

const HOUR = 3_600;
const DAY = 86_400;

describe("defaultShardGroupSeconds", () => {
  it.each([
    ["1 h", HOUR, HOUR],
    ["just under 2 d", 2 * DAY - 1, HOUR],
    ["2 d", 2 * DAY, DAY],
    ["30 d", 30 * DAY, DAY],
    ["just under 180 d", 180 * DAY - 1, DAY],
    ["180 d", 180 * DAY, 7 * DAY],
    ["365 d", 365 * DAY, 7 * DAY],
    ["infinite (0)", 0, 7 * DAY],
  ])("retention %s gets %i s", (_label, retention, expected) => {
    expect(defaultShardGroupSeconds(retention)).toBe(expected);
  });
});
