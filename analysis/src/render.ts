// Output formats of a pattern result: a text table, CSV, the JSON contract, and pictures drawn by
// Vega-Lite (compiled to Vega and rendered to SVG in Node, no browser), one page of them as HTML.
import type { PatternResult, PatternRow, Series } from "./analyze";
import { type Pattern, WEEKDAYS } from "./patterns";
import { isoWeek } from "./time";

export const FORMATS = ["table", "csv", "json", "svg", "html"] as const;
export type Format = (typeof FORMATS)[number];

/** The JSON contract: pattern, resolution, zone, range, and per entity its rows. */
export function toJson(result: PatternResult): string {
  return `${JSON.stringify(result, null, 2)}\n`;
}

const COLUMNS = ["mean", "min", "max", "count", "coverage_seconds", "energy_kwh"] as const;

export function toCsv(result: PatternResult): string {
  const lines = [["entity_id", "unit", "key", ...COLUMNS].join(",")];
  for (const series of result.series) {
    for (const row of series.rows) {
      lines.push(
        [
          series.entity_id,
          csvCell(series.unit ?? ""),
          row.key,
          ...COLUMNS.map((column) => (row[column] === undefined ? "" : String(row[column]))),
        ].join(","),
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

function csvCell(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const fixed = (value: number | undefined, digits = 2) => (value === undefined ? "" : value.toFixed(digits));

export function toTable(result: PatternResult): string {
  const out: string[] = [];
  if (result.note) out.push(`note: ${result.note}`);
  for (const series of result.series) {
    out.push(
      `${series.entity_id}${series.unit ? ` (${series.unit})` : ""}: ${result.pattern}, ${result.resolution}, ${result.timeZone}, ${result.start} .. ${result.stop}`,
    );
    const hasEnergy = series.rows.some((row) => row.energy_kwh !== undefined);
    const header = ["key", "mean", "min", "max", "count", "coverage_h", ...(hasEnergy ? ["energy_kwh"] : [])];
    const cells = series.rows.map((row) => [
      row.label ? `${row.key} ${row.label}` : row.key,
      fixed(row.mean),
      fixed(row.min),
      fixed(row.max),
      String(row.count),
      fixed(row.coverage_seconds / 3_600, 1),
      ...(hasEnergy ? [fixed(row.energy_kwh, 3)] : []),
    ]);
    const widths = header.map((name, i) => Math.max(name.length, ...cells.map((line) => line[i].length)));
    const format = (line: string[]) =>
      line
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
        .join("  ")
        .trimEnd();
    out.push(format(header), ...cells.map(format), "");
  }
  return `${out.join("\n")}\n`;
}

const AXIS_TITLES: Record<Pattern, string> = {
  summary: "entity",
  hour: "hour of day",
  weekday: "weekday",
  "hour-weekday": "hour of day",
  week: "ISO week",
  month: "month",
  season: "season",
  year: "year",
  calendar: "ISO week",
};

/** What a chart plots for a series: energy use for meters, the time-weighted mean otherwise. */
function metric(series: Series): { name: "energy_kwh" | "mean"; unit: string } {
  return series.rows.some((row) => row.energy_kwh !== undefined)
    ? { name: "energy_kwh", unit: "kWh" }
    : { name: "mean", unit: series.unit ?? "" };
}

interface Datum {
  entity: string;
  key: string;
  value: number;
  hour?: number;
  weekday?: string;
  week?: string;
}

function datum(pattern: Pattern, series: Series, row: PatternRow): Datum | undefined {
  const value = row[metric(series).name];
  if (value === undefined) return undefined;
  const base: Datum = { entity: series.entity_id, key: row.label ? `${row.key} (${row.label})` : row.key, value };
  if (pattern === "hour-weekday") return { ...base, weekday: row.key.slice(0, 3), hour: Number(row.key.slice(4)) };
  if (pattern === "calendar") {
    const [year, month, day] = row.key.split("-").map(Number);
    const weekday = (new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7;
    const week = isoWeek(year, month, day);
    // the ISO year of the week: early-January days can belong to the last week of the year before
    const weekYear = month === 1 && week > 50 ? year - 1 : month === 12 && week === 1 ? year + 1 : year;
    return { ...base, weekday: WEEKDAYS[weekday], week: `${weekYear}-W${String(week).padStart(2, "0")}` };
  }
  return base;
}

/** The Vega-Lite spec of a result: heat maps for hour × weekday and the calendar, bars otherwise. */
export function chartSpec(result: PatternResult): TopLevelSpec {
  const { pattern } = result;
  const values = result.series.flatMap((series) =>
    series.rows.map((row) => datum(pattern, series, row)).filter((d): d is Datum => d !== undefined),
  );
  const units = [...new Set(result.series.map((series) => metric(series).unit).filter((unit) => unit !== ""))];
  const names = [...new Set(result.series.map((series) => metric(series).name))];
  const valueTitle = `${names.join(" / ") || "mean"}${units.length > 0 ? ` (${units.join(", ")})` : ""}`;
  const axis = `${AXIS_TITLES[pattern]} (${result.timeZone})`;
  const title = `${pattern} · ${result.start.slice(0, 10)} .. ${result.stop.slice(0, 10)} · ${result.resolution}`;
  const keyOrder = [...new Map(values.map((d) => [d.key, true])).keys()];
  const base = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values },
    config: { font: "sans-serif" },
  } as const;
  const heat = (x: { field: string; title: string; sort?: string[] }) =>
    ({
      ...base,
      mark: "rect",
      encoding: {
        x: { field: x.field, type: "ordinal", title: x.title, ...(x.sort ? { sort: x.sort } : {}) },
        y: { field: "weekday", type: "ordinal", sort: [...WEEKDAYS], title: `weekday (${result.timeZone})` },
        color: { field: "value", type: "quantitative", title: valueTitle, scale: { scheme: "viridis" } },
        ...(result.series.length > 1 ? { row: { field: "entity", type: "nominal", title: null } } : {}),
      },
    }) as TopLevelSpec;
  if (pattern === "hour-weekday") return heat({ field: "hour", title: axis });
  if (pattern === "calendar") return heat({ field: "week", title: axis });
  return {
    ...base,
    mark: "bar",
    encoding: {
      x: {
        field: pattern === "summary" ? "entity" : "key",
        type: "ordinal",
        sort: pattern === "summary" ? undefined : keyOrder,
        title: axis,
      },
      y: { field: "value", type: "quantitative", title: valueTitle },
      color: { field: "entity", type: "nominal", title: "entity" },
      ...(result.series.length > 1 && pattern !== "summary" ? { xOffset: { field: "entity", type: "nominal" } } : {}),
    },
  } as TopLevelSpec;
}

/** A Vega-Lite specification (the JSON the library compiles). */
export type TopLevelSpec = Record<string, unknown>;

/** The parts of Vega and Vega-Lite used here. */
interface VegaLite {
  compile(spec: TopLevelSpec): { spec: object };
}
interface Vega {
  parse(spec: object): object;
  View: new (runtime: object, options: { renderer: "none" }) => { toSVG(): Promise<string>; finalize(): void };
}

/**
 * Vega and Vega-Lite are ES modules with top-level await: they load with import(), not require(). The
 * specifier is a variable so that CommonJS type-checkers elsewhere in the repository (which cannot
 * resolve ES-only packages) need not see them; the interfaces above name what is used.
 */
async function loadVega(): Promise<[Vega, VegaLite]> {
  const load = (name: string) => import(name) as Promise<unknown>;
  const [vega, vegaLite] = await Promise.all([load("vega"), load("vega-lite")]);
  return [vega as Vega, vegaLite as VegaLite];
}

/** The result drawn as SVG by Vega in Node. */
export async function toSvg(result: PatternResult): Promise<string> {
  const [vega, vegaLite] = await loadVega();
  const compiled = vegaLite.compile(chartSpec(result)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** One self-contained page (no scripts, no external files) with a chart and a caption per result. */
export async function toHtml(results: PatternResult[], heading: string): Promise<string> {
  const figures: string[] = [];
  for (const result of results) {
    const caption = `${result.pattern}: ${result.series.length} series, ${result.resolution}, ${result.timeZone}${result.note ? ` — ${result.note}` : ""}`;
    figures.push(
      `<figure data-pattern="${escapeHtml(result.pattern)}" data-marks="${countMarks(result)}">\n${await toSvg(result)}\n<figcaption>${escapeHtml(caption)}</figcaption>\n</figure>`,
    );
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(heading)}</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}figure{margin:2em 0}figcaption{color:#555;font-size:.9em}</style>
</head>
<body>
<h1>${escapeHtml(heading)}</h1>
${figures.join("\n")}
</body>
</html>
`;
}

/** How many marks (bars or heat-map cells) a result's chart draws: one per row with a value. */
export function countMarks(result: PatternResult): number {
  return result.series.reduce(
    (sum, series) => sum + series.rows.filter((row) => row[metric(series).name] !== undefined).length,
    0,
  );
}
