#!/usr/bin/env node
// ha-influx-analyze: patterns of Home Assistant history as a table, CSV, JSON, SVG or an HTML page.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type AnalysisRequest, analyze, type PatternResult, RESOLUTIONS } from "./analyze";
import { resolveConfig } from "./config";
import { UserError } from "./errors";
import { type Hemisphere, PATTERNS, type Pattern } from "./patterns";
import { FORMATS, type Format, toCsv, toHtml, toJson, toSvg, toTable } from "./render";
import { parseInstant } from "./time";

const USAGE = `usage: ha-influx-analyze [--pattern P] [selection] [range] [--format F] [connection]

  --pattern      ${PATTERNS.join(" | ")} (default weekday)
  --entity ID    an entity id (repeatable); or --domain, --area, --device-class (repeatable)
  --start/--stop RFC 3339 (2026-03-01, 2026-03-01T06:00:00Z) or relative (-30d, -12h, -1y) or now;
                 default the last 365 days
  --resolution   auto | raw | hourly | daily (default auto: the coarsest that answers exactly)
  --hemisphere   north | south (season names; default north)
  --format       ${FORMATS.join(" | ")} (default table); html draws several patterns on one page
  --output FILE  write there instead of stdout
  --config FILE  the stack output analysisConfig (pulumi stack output --json --show-secrets)
  --url, --token, --org, --time-zone   override the file (env INFLUXDB_URL, INFLUXDB_TOKEN, INFLUXDB_ORG)
`;

/** Patterns drawn on the HTML page. */
const HTML_PATTERNS: Pattern[] = ["hour", "weekday", "hour-weekday", "week", "month", "season", "year", "calendar"];

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value))
    throw new UserError(`unknown ${flag} ${JSON.stringify(value)}: use one of ${allowed.join(", ")}`);
  return value as T;
}

/** `--start -30d` reads as a value, not as an option: parseArgs would call it ambiguous. */
function joinRelativeTimes(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if ((argv[i] === "--start" || argv[i] === "--stop") && /^-\d/.test(argv[i + 1] ?? ""))
      out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

/** The command line's options (a function so that its result type can be named). */
function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: joinRelativeTimes(argv),
    options: {
      pattern: { type: "string" },
      entity: { type: "string", multiple: true },
      domain: { type: "string", multiple: true },
      area: { type: "string", multiple: true },
      "device-class": { type: "string", multiple: true },
      start: { type: "string" },
      stop: { type: "string" },
      resolution: { type: "string" },
      hemisphere: { type: "string" },
      format: { type: "string" },
      output: { type: "string" },
      config: { type: "string" },
      url: { type: "string" },
      token: { type: "string" },
      org: { type: "string" },
      "time-zone": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
  });
}

export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    throw new UserError((error as Error).message.split("\n")[0]);
  }
  const flags = parsed.values;
  if (flags.help) {
    out(USAGE);
    return 0;
  }
  const pattern = oneOf(flags.pattern, PATTERNS, "--pattern", "weekday");
  const resolution = oneOf(flags.resolution, RESOLUTIONS, "--resolution", "auto");
  const format: Format = oneOf(flags.format, FORMATS, "--format", "table");
  const hemisphere: Hemisphere = oneOf(flags.hemisphere, ["north", "south"] as const, "--hemisphere", "north");
  const config = resolveConfig(
    { config: flags.config, url: flags.url, token: flags.token, org: flags.org, timeZone: flags["time-zone"] },
    env,
  );

  const now = Date.now();
  const start = parseInstant(flags.start ?? "-365d", "--start", now, config.timeZone);
  const stop = parseInstant(flags.stop ?? "now", "--stop", now, config.timeZone);
  if (stop <= start)
    throw new UserError(
      `--stop (${new Date(stop).toISOString()}) must be after --start (${new Date(start).toISOString()})`,
    );

  const request = (p: Pattern): AnalysisRequest => ({
    pattern: p,
    selection: {
      entities: flags.entity ?? [],
      domains: flags.domain ?? [],
      areas: flags.area ?? [],
      deviceClasses: flags["device-class"] ?? [],
    },
    start,
    stop,
    resolution,
    hemisphere,
    progress: process.stderr.isTTY ? (line) => err(`${line}\n`) : undefined,
  });

  let text: string;
  let note: string | undefined;
  if (format === "html") {
    const results: PatternResult[] = [];
    for (const p of HTML_PATTERNS)
      results.push(
        await analyze(config, {
          ...request(p),
          resolution: resolution === "daily" && p.startsWith("hour") ? "auto" : resolution,
        }),
      );
    note = results[0].note;
    text = await toHtml(results, "Home Assistant history");
  } else {
    const result = await analyze(config, request(pattern));
    note = result.note;
    text =
      format === "json"
        ? toJson(result)
        : format === "csv"
          ? toCsv(result)
          : format === "svg"
            ? await toSvg(result)
            : toTable(result);
  }
  if (note && format !== "table") err(`note: ${note}\n`);
  if (flags.output === undefined) out(text);
  else writeFileSync(flags.output, text);
  return 0;
}

if (require.main === module) {
  main(
    process.argv.slice(2),
    process.env,
    (text) => process.stdout.write(text),
    (text) => process.stderr.write(text),
  ).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      if (error instanceof UserError) {
        process.stderr.write(`ha-influx-analyze: ${error.message}\n`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`ha-influx-analyze: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
