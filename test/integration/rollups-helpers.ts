// Small HTTP helpers over a test influxd for the rollup and analysis tests: buckets, line-protocol
// writes and Flux queries (with a chosen `now`, so a task's Flux runs as if at its scheduled time).
import type { InfluxdInstance } from "../harness/influxd";

/** One row of a query answer: column name to text value. */
export type Row = Record<string, string>;

export function influxApi(server: InfluxdInstance) {
  const headers = { authorization: `Token ${server.token}` };

  async function createBucket(name: string): Promise<string> {
    const response = await fetch(`${server.url}/api/v2/buckets`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ orgID: server.orgId, name, retentionRules: [] }),
    });
    if (response.status !== 201)
      throw new Error(`creating bucket ${name}: HTTP ${response.status} ${await response.text()}`);
    return ((await response.json()) as { id: string }).id;
  }

  /** Writes line protocol with second precision; throws on anything but 204. */
  async function write(bucket: string, lines: string[]): Promise<void> {
    for (let i = 0; i < lines.length; i += 5_000) {
      const response = await fetch(
        `${server.url}/api/v2/write?org=${encodeURIComponent(server.org)}&bucket=${encodeURIComponent(bucket)}&precision=s`,
        {
          method: "POST",
          headers,
          body: lines.slice(i, i + 5_000).join("\n"),
        },
      );
      if (response.status !== 204)
        throw new Error(`write to ${bucket}: HTTP ${response.status} ${await response.text()}`);
    }
  }

  /** Runs Flux (as if at `now`, when given) and returns every row of every table. */
  async function query(flux: string, now?: string): Promise<Row[]> {
    const response = await fetch(`${server.url}/api/v2/query?org=${encodeURIComponent(server.org)}`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", accept: "application/csv" },
      body: JSON.stringify({ query: flux, now, dialect: { annotations: [], header: true } }),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`query: HTTP ${response.status} ${text}`);
    return parseCsv(text);
  }

  return { createBucket, write, query };
}

/** The server's CSV: tables separated by blank lines, each with its own header. Our values hold no commas. */
function parseCsv(text: string): Row[] {
  const rows: Row[] = [];
  let header: string[] | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") {
      header = undefined;
      continue;
    }
    const cells = line.split(",");
    if (header === undefined) {
      header = cells;
      continue;
    }
    rows.push(Object.fromEntries(header.map((name, i) => [name, cells[i] ?? ""])));
  }
  return rows;
}

/** Escapes a tag value for line protocol. */
export function tagValue(text: string): string {
  return text.replace(/[,= ]/g, (c) => `\\${c}`);
}
