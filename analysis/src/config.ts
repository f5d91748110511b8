// Where the analysis reads from: the stack output `analysisConfig`, a file, env and flags, merged with
// flags over env over the file, and checked by one schema.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UserError } from "./errors";
import { isTimeZone } from "./time";

export const analysisConfigSchema = z
  .object({
    /** Base URL of the InfluxDB API. */
    url: z.url({ message: "must be a URL like http://127.0.0.1:8086" }),
    /** Organisation name. */
    org: z.string().min(1),
    /** A token that can read the buckets (the stack's reader token). */
    token: z.string().min(1, { message: "is required (--token, INFLUXDB_TOKEN or the config file)" }),
    /** IANA time zone of the stack: hours, days and seasons are local to it. */
    timeZone: z.string().refine(isTimeZone, { message: "must be an IANA time zone such as Europe/Berlin" }),
    /** Bucket names by role. */
    buckets: z
      .object({
        events: z.string().min(1).default("home_assistant_events"),
        hourly: z.string().min(1).default("home_assistant_hourly"),
        daily: z.string().min(1).default("home_assistant_daily"),
      })
      .prefault({}),
  })
  .strict();

export type AnalysisConfig = z.infer<typeof analysisConfigSchema>;

/** Settings given on the command line (undefined when not given). */
export interface ConfigFlags {
  config?: string;
  url?: string;
  token?: string;
  org?: string;
  timeZone?: string;
}

/**
 * Reads the file (the `analysisConfig` object itself, or `pulumi stack output --json --show-secrets`
 * with an `analysisConfig` key), then env, then flags. Missing org and zone fall back to the
 * project's defaults; a missing URL or token is an error naming where to set it.
 */
export function resolveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv): AnalysisConfig {
  let file: Record<string, unknown> = {};
  if (flags.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.config, "utf8");
    } catch (error) {
      throw new UserError(
        `cannot read --config ${flags.config}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new UserError(`--config ${flags.config} is not JSON`);
    }
    if (parsed === null || typeof parsed !== "object")
      throw new UserError(`--config ${flags.config} must hold a JSON object`);
    const record = parsed as Record<string, unknown>;
    file = (record.analysisConfig ?? record) as Record<string, unknown>;
  }
  const pick = (...values: (string | undefined)[]) => values.find((value) => value !== undefined && value !== "");
  const merged = {
    ...file,
    url: pick(flags.url, env.INFLUXDB_URL, file.url as string | undefined),
    token: pick(flags.token, env.INFLUXDB_TOKEN, file.token as string | undefined) ?? "",
    org: pick(flags.org, env.INFLUXDB_ORG, file.org as string | undefined) ?? "home_assistant",
    timeZone: pick(flags.timeZone, file.timeZone as string | undefined) ?? "Europe/Berlin",
  };
  if (merged.url === undefined)
    throw new UserError("no InfluxDB URL: give --url, INFLUXDB_URL or --config with the stack output analysisConfig");
  const result = analysisConfigSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new UserError(`config ${issue.path.join(".") || "(root)"} ${issue.message}`);
  }
  return result.data;
}
