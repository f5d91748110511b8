// The stack output `analysisConfig` under mocks: what `ha-influx-analyze --config` reads, secret, with
// the reader token, and valid for the analysis' own schema.
import { beforeAll, describe, expect, it } from "vitest";
import { analysisConfigSchema } from "../../analysis/src/config";
import { parseStackConfig } from "../../components/config";
import { type Declaration, declareProgram, setPath, stackFileSettings } from "./helpers/declare";

let declared: Declaration;

beforeAll(async () => {
  let settings = stackFileSettings("Pulumi.dev.yaml");
  settings = setPath(settings, "onboarding.password", "correct-horse-battery");
  settings = setPath(settings, "writer.homeAssistant.token", "ha-long-lived-token");
  declared = await declareProgram(parseStackConfig(settings), "dev");
});

describe("analysisConfig", () => {
  it("is a secret holding the reader token, the buckets by role and the stack's time zone", () => {
    expect(declared.outputs.analysisConfig?.secret).toBe(true);
    expect(declared.outputs.analysisConfig?.value).toEqual({
      url: "http://127.0.0.1:8086",
      org: "home_assistant",
      token: "token-reader-token-value",
      timeZone: "Europe/Berlin",
      buckets: { events: "home_assistant_events", hourly: "home_assistant_hourly", daily: "home_assistant_daily" },
    });
    expect(analysisConfigSchema.parse(declared.outputs.analysisConfig?.value)).toEqual(
      declared.outputs.analysisConfig?.value,
    );
  });
});
