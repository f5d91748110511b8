/** What `import` reports at the end of a run: the text on standard error, or the JSON of `--json` on stdout. */
import type { ImportSummary } from "./importer";
import type { StatisticsSummary } from "./statistics";

/** Whether the import spool was emptied into InfluxDB at the end (`Pipeline.stop`). */
export interface Delivered {
  drained: boolean;
  pendingEvents: number;
}

/** The summary as text: totals, one line per entity, the statistics when imported, and what is still to deliver. */
export function summaryText(summary: ImportSummary, delivered: Delivered, statistics?: StatisticsSummary): string {
  const reasons = Object.entries(summary.rejectedReasons)
    .map(([reason, count]) => `${reason}: ${count}`)
    .join(", ");
  const lines = [
    `imported ${summary.rowsRead} of ${summary.rowsToRead} rows${summary.resumed ? " (resumed after the checkpoint)" : ""} ` +
      `from ${summary.database} (schema ${summary.schemaVersion}) in ${summary.seconds.toFixed(1)} s: ` +
      `${summary.accepted} points written, ${summary.filtered} filtered, ${summary.rejected} rejected${reasons ? ` (${reasons})` : ""}`,
  ];
  for (const [entity, c] of Object.entries(summary.entities).sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${entity}: ${c.rows} rows, ${c.accepted} written, ${c.filtered} filtered, ${c.rejected} rejected`);
  }
  lines.push(
    delivered.drained
      ? "all delivered to InfluxDB"
      : `${delivered.pendingEvents} points not yet delivered; they stay in the import spool for the next run`,
  );
  if (statistics)
    lines.push(
      `statistics: ${statistics.series} series, ${statistics.hourlyPoints} hourly and ${statistics.dailyPoints} daily rollup points written`,
    );
  return `${lines.join("\n")}\n`;
}

/** The summary as one JSON line; `interrupted` when a signal stopped a phase of the run. */
export function summaryJson(
  summary: ImportSummary,
  delivered: Delivered,
  statistics: StatisticsSummary | undefined,
  interrupted: { signal: NodeJS.Signals | undefined } | undefined,
): string {
  return `${JSON.stringify({
    ...summary,
    ...(statistics ? { statistics } : {}),
    ...(interrupted !== undefined ? { interrupted: true, signal: interrupted.signal } : {}),
    delivered: delivered.drained,
    pendingPoints: delivered.pendingEvents,
  })}\n`;
}
