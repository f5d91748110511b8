// Flux queries over the InfluxDB v2 HTTP API. Plain fetch and the server's CSV: the answers here are
// small tables of tags, times and numbers, and the errors must become one clear line each.
import type { AnalysisConfig } from "./config";
import { UserError } from "./errors";

/** One row of an answer: column name to text (empty for null). */
export type Row = Record<string, string>;

/** Runs `flux` and returns the rows of every table. */
export async function query(config: AnalysisConfig, flux: string, timeoutMs = 600_000): Promise<Row[]> {
  let response: Response;
  try {
    response = await fetch(`${config.url.replace(/\/$/, "")}/api/v2/query?org=${encodeURIComponent(config.org)}`, {
      method: "POST",
      headers: {
        authorization: `Token ${config.token}`,
        "content-type": "application/json",
        accept: "application/csv",
      },
      body: JSON.stringify({ query: flux, dialect: { header: true, annotations: [] } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new UserError(
      `cannot reach InfluxDB at ${config.url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    );
  }
  const text = await response.text();
  if (response.status === 401 || response.status === 403) {
    throw new UserError(
      `InfluxDB at ${config.url} rejected the token (HTTP ${response.status}); the reader token of the stack can read every project bucket`,
    );
  }
  if (response.status !== 200) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not JSON: keep the text
    }
    if (response.status === 404) throw new UserError(`InfluxDB: ${message}`);
    throw new Error(`InfluxDB query failed (HTTP ${response.status}): ${message}`);
  }
  return parseCsv(text);
}

/** The server's CSV: tables separated by blank lines, each with its own header; quoted cells allowed. */
export function parseCsv(text: string): Row[] {
  const rows: Row[] = [];
  let header: string[] | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") {
      header = undefined;
      continue;
    }
    const cells = splitCsvLine(line);
    if (header === undefined) {
      header = cells;
      continue;
    }
    if (header.includes("error")) throw new Error(`InfluxDB query failed: ${cells[header.indexOf("error")]}`);
    const row: Row = {};
    header.forEach((name, i) => {
      row[name] = cells[i] ?? "";
    });
    rows.push(row);
  }
  return rows;
}

function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(",");
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      cells.push(cell);
      cell = "";
    } else cell += c;
  }
  cells.push(cell);
  return cells;
}
