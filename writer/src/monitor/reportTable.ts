/**
 * The capacity report as a text table for people: per bucket its size, series, growth, retention and
 * where it settles; the disk's verdict; the top entities; the tasks; the alerts and problems.
 */
import { formatBytes, formatCount, round } from "./format";
import type { CapacityReport } from "./report";

/** The report as a text table. */
export function formatTable(report: CapacityReport): string {
  const out: string[] = [];
  out.push(
    `ha-influx capacity report: ${report.server}, org ${report.org}, ${report.generatedAt.slice(0, 16).replace("T", " ")} UTC`,
  );
  out.push(
    `growth fitted over the last ${report.windowDays} day${report.windowDays === 1 ? "" : "s"} of stored samples`,
  );
  out.push("");
  const rows = report.buckets.map((b) => [
    b.name,
    formatBytes(b.bytes),
    b.series === undefined ? "?" : formatCount(b.series),
    b.growthBytesPerDay === undefined ? "?" : `${formatBytes(b.growthBytesPerDay)}`,
    b.pointsLastDay === undefined ? "?" : formatCount(b.pointsLastDay),
    b.retentionDays === 0 ? "infinite" : `${round(b.retentionDays, 1)} d`,
    b.settledBytes === undefined ? "?" : b.settledBytes === null ? "never" : formatBytes(b.settledBytes),
    b.daysToSettle === undefined
      ? b.settledBytes === null
        ? "never"
        : "?"
      : b.daysToSettle === 0
        ? "now"
        : `${Math.round(b.daysToSettle)} d`,
    b.note ?? "",
  ]);
  rows.push([
    "total",
    formatBytes(report.totals.bytes),
    "",
    formatBytes(report.totals.bytesPerDay),
    "",
    "",
    report.totals.settledBytes === null ? "never" : formatBytes(report.totals.settledBytes),
    "",
    "",
  ]);
  out.push(
    ...table(
      ["bucket", "size", "series", "growth/day", "points/day", "retention", "settles at", "in", ""],
      rows,
      [1, 2, 3, 4, 5, 6, 7],
    ),
  );
  out.push("");
  const d = report.disk;
  if (d) {
    const head = `disk (${d.source === "statfs" ? "statfs of the data directory" : "configured capacity"}): ${formatBytes(d.usedBytes)} of ${formatBytes(d.capacityBytes)} used (${d.usedPercent.toFixed(1)} %), growing ${formatBytes(d.bytesPerDay)}/day`;
    out.push(
      d.verdict === "fills"
        ? `${head}: full on ${d.fillsOn!.slice(0, 10)} (in ${Math.round(d.daysUntilFull!)} days)`
        : `${head}: never full at this growth, ${formatBytes(d.headroomBytes!)} headroom once every bucket has settled`,
    );
    if (d.unknownBuckets.length > 0)
      out.push(`  (too few samples to know the growth of ${d.unknownBuckets.join(", ")}: counted as not growing)`);
  } else {
    out.push("disk: unknown (set monitor.dataDir, or monitor.capacityBytes / --capacity-gb for an external server)");
  }
  if (report.topEntities) {
    const t = report.topEntities;
    out.push("");
    out.push(`top entities in ${t.bucket}`);
    out.push(`  by series: ${t.bySeries.map((e) => `${e.entityId} ${formatCount(e.series)}`).join(", ") || "none"}`);
    out.push(
      `  by events in the last 24 h: ${t.byEvents.map((e) => `${e.entityId} ${formatCount(e.events)}`).join(", ") || "none"}`,
    );
  }
  out.push("");
  if (report.tasks.length === 0) out.push("tasks: none visible to this token");
  else {
    out.push(
      ...table(
        ["task", "status", "last run", "result", "failed in a row", "behind", "newest window"],
        report.tasks.map((t) => [
          t.name,
          t.status,
          t.lastRunAt ? t.lastRunAt.slice(0, 16).replace("T", " ") : "never",
          t.lastRunStatus === "failed" ? `failed: ${t.lastError ?? ""}` : (t.lastRunStatus ?? "-"),
          String(t.consecutiveFailures),
          t.lagWindows === undefined
            ? t.lagSeconds === undefined
              ? "?"
              : `${Math.round(t.lagSeconds / 60)} min`
            : `${t.lagWindows} windows`,
          t.newestWindow ? t.newestWindow.slice(0, 16).replace("T", " ") : "-",
        ]),
        [],
      ),
    );
  }
  out.push("");
  out.push(
    report.alerts.length === 0
      ? "alerts: none"
      : `alerts:\n${report.alerts.map((a) => `  ${a.name}${a.bucket ? ` (${a.bucket})` : ""}: ${a.message}`).join("\n")}`,
  );
  if (report.problems.length > 0) out.push(`problems:\n${report.problems.map((p) => `  ${p}`).join("\n")}`);
  return `${out.join("\n")}\n`;
}

function table(header: string[], rows: string[][], rightAligned: number[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (rightAligned.includes(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
