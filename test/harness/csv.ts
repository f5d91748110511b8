// InfluxDB's annotated CSV, as the query API answers it, for tests that read points back.

/** Rows of InfluxDB's annotated CSV (quoted fields may hold commas, quotes and newlines). */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) rows.push([...row, field]);
  const records: Record<string, string>[] = [];
  let header: string[] | undefined;
  for (const cells of rows) {
    if (cells.length === 1 && cells[0] === "") {
      header = undefined;
      continue;
    }
    if (header === undefined) {
      header = cells;
      continue;
    }
    records.push(Object.fromEntries(header.map((name, index) => [name, cells[index] ?? ""])));
  }
  return records;
}
