/**
 * The capacity picture: each bucket's size over the stored samples (solid) and its forecast (dashed)
 * until it settles, the disk's use projected to its limit, and the limit itself. Sizes span bytes to
 * terabytes, so the size axis is logarithmic. Scales, ticks and paths come from d3-scale and
 * d3-shape; the few SVG elements around them are written here.
 */
import { scaleLog, scaleTime } from "d3-scale";
import { line } from "d3-shape";
import { DAY_MS, type Observation } from "./forecast";
import { formatBytes } from "./format";
import type { History } from "./history";
import type { CapacityReport } from "./report";

const WIDTH = 960;
const HEIGHT = 480;
const MARGIN = { top: 40, right: 230, bottom: 40, left: 70 };
/** Tableau 10: distinct and readable for colour-blind people. */
const PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];
const MAX_HORIZON_DAYS = 3650;

/** The picture of a report, with the stored samples it was fitted on. */
export function renderCapacitySvg(report: CapacityReport, history: History): string {
  const now = Date.parse(report.generatedAt);
  const disk = report.disk;
  const settleDays = report.buckets.map((b) => b.daysToSettle ?? 0);
  const horizonDays = Math.min(
    MAX_HORIZON_DAYS,
    disk?.verdict === "fills"
      ? Math.max(disk.daysUntilFull! * 1.15, 7)
      : Math.max(90, ...settleDays.map((d) => d * 1.1)),
  );
  const end = now + horizonDays * DAY_MS;

  const pastOf = (name: string): Observation[] => (history.get(name)?.bytes ?? []).filter((o) => o.at < now);
  const start = Math.min(now - DAY_MS, ...report.buckets.flatMap((b) => pastOf(b.name).map((o) => o.at)));
  const projected = (b: CapacityReport["buckets"][number], at: number): number => {
    const days = Math.min((at - now) / DAY_MS, b.daysToSettle ?? Infinity);
    return b.trend === "growing" ? b.bytes + (b.growthBytesPerDay ?? 0) * days : b.bytes;
  };
  // Forecast points: where lines bend (each bucket's settling day, the fill day) and, since straight
  // growth is a curve on a log axis, 100 steps between now and the end.
  const steps = Array.from({ length: 101 }, (_, i) => now + ((end - now) * i) / 100);
  const bends = [
    ...new Set([
      ...steps,
      ...settleDays.map((d) => now + d * DAY_MS),
      ...(disk?.fillsOn ? [Date.parse(disk.fillsOn)] : []),
    ]),
  ]
    .filter((t) => t >= now && t <= end)
    .sort((a, b) => a - b);

  const values = report.buckets.flatMap((b) => [...pastOf(b.name).map((o) => o.value), b.bytes, projected(b, end)]);
  if (disk) values.push(disk.capacityBytes, disk.usedBytes);
  const positive = values.filter((v) => v > 0);
  const x = scaleTime()
    .domain([new Date(start), new Date(end)])
    .range([MARGIN.left, WIDTH - MARGIN.right]);
  const y = scaleLog()
    .domain([Math.max(1, Math.min(...positive, 1e3) / 2), Math.max(...positive, 1e3) * 2])
    .range([HEIGHT - MARGIN.bottom, MARGIN.top])
    .clamp(true);
  const path = line<Observation>()
    .x((o) => x(new Date(o.at)))
    .y((o) => y(Math.max(1, o.value)));

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  parts.push(
    `<text x="${MARGIN.left}" y="22" font-size="15" font-weight="bold">${escapeXml(`Storage of ${report.server} (org ${report.org}), ${report.generatedAt.slice(0, 10)}`)}</text>`,
  );
  for (const tick of x.ticks(8)) {
    const px = x(tick);
    parts.push(`<line x1="${px}" x2="${px}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#eee"/>`);
    parts.push(
      `<text x="${px}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${escapeXml(x.tickFormat()(tick))}</text>`,
    );
  }
  for (const tick of y.ticks(6).filter((t) => Math.log10(t) % 1 === 0)) {
    const py = y(tick);
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py}" y2="${py}" stroke="#eee"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${py + 4}" text-anchor="end">${escapeXml(formatBytes(tick))}</text>`);
  }
  parts.push(
    `<text transform="translate(16 ${(HEIGHT - MARGIN.bottom + MARGIN.top) / 2}) rotate(-90)" text-anchor="middle">size on disk (log scale)</text>`,
  );
  const nowX = x(new Date(now));
  parts.push(
    `<line x1="${nowX}" x2="${nowX}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#888" stroke-dasharray="2 3"/>`,
  );
  parts.push(`<text x="${nowX + 4}" y="${MARGIN.top + 12}" fill="#555">now</text>`);

  const legend: { label: string; color: string; dash?: string }[] = [];
  // The disk's line first: with a configured capacity it runs along the biggest bucket's, which must stay visible.
  if (disk) {
    const usedAt = (at: number) =>
      disk.usedBytes + report.buckets.reduce((sum, b) => sum + projected(b, at) - b.bytes, 0);
    parts.push(
      `<path d="${path(bends.map((at) => ({ at, value: Math.min(usedAt(at), disk.capacityBytes) })))}" fill="none" stroke="#999" stroke-width="6" stroke-opacity="0.6" stroke-dasharray="6 4"/>`,
    );
    const limitY = y(disk.capacityBytes);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${limitY}" y2="${limitY}" stroke="#c00" stroke-width="2"/>`,
    );
    parts.push(
      `<text x="${MARGIN.left + 4}" y="${limitY - 5}" fill="#c00">${escapeXml(`disk limit ${formatBytes(disk.capacityBytes)}`)}</text>`,
    );
    const verdict =
      disk.verdict === "fills"
        ? `full on ${disk.fillsOn!.slice(0, 10)} (${Math.round(disk.daysUntilFull!)} days)`
        : `never full (${formatBytes(disk.headroomBytes!)} headroom)`;
    if (disk.verdict === "fills") {
      const fx = x(new Date(disk.fillsOn!));
      parts.push(`<circle cx="${fx}" cy="${limitY}" r="5" fill="#c00"/>`);
    }
    parts.push(
      `<text x="${WIDTH - MARGIN.right}" y="22" text-anchor="end" fill="#c00" font-weight="bold">${escapeXml(verdict)}</text>`,
    );
  }
  report.buckets.forEach((b, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const past = [...pastOf(b.name), { at: now, value: b.bytes }];
    parts.push(
      `<path d="${path(past)}" fill="none" stroke="${color}" stroke-width="2"><title>${escapeXml(b.name)}</title></path>`,
    );
    parts.push(
      `<path d="${path(bends.map((at) => ({ at, value: projected(b, at) })))}" fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="6 4"/>`,
    );
    legend.push({ label: `${b.name} ${formatBytes(b.bytes)}`, color });
  });
  if (disk) legend.push({ label: `disk used ${formatBytes(disk.usedBytes)}`, color: "#999", dash: "6 4" });
  legend.forEach((entry, i) => {
    const ly = MARGIN.top + 10 + i * 20;
    const lx = WIDTH - MARGIN.right + 16;
    parts.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${entry.color}" stroke-width="2.5"${entry.dash ? ` stroke-dasharray="${entry.dash}"` : ""}/>`,
    );
    parts.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(entry.label)}</text>`);
  });
  const ly = MARGIN.top + 20 + legend.length * 20;
  parts.push(`<text x="${WIDTH - MARGIN.right + 16}" y="${ly}" fill="#555">solid: stored samples</text>`);
  parts.push(`<text x="${WIDTH - MARGIN.right + 16}" y="${ly + 16}" fill="#555">dashed: forecast</text>`);
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
