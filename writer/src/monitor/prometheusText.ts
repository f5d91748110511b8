/**
 * Reads samples of named metric families from Prometheus text exposition (influxd's `/metrics`).
 * Hand-written on purpose: the monitor needs two gauge families, and the one npm parser of this
 * format has not been released since 2019 and carries no types. It follows the format's rules for
 * label values (`\\`, `\"`, `\n` escapes) and skips comments, and it refuses text that is not
 * exposition at all, so a server answering garbage is reported as such.
 */

/** One sample: its labels and value. */
export interface PromSample {
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

/** The samples of each wanted family, by name; throws when a line is not exposition text. */
export function parsePrometheusText(text: string, families: readonly string[]): Map<string, PromSample[]> {
  const wanted = new Set(families);
  const out = new Map<string, PromSample[]>(families.map((name) => [name, []]));
  let lineNumber = 0;
  for (const raw of text.split("\n")) {
    lineNumber++;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`line ${lineNumber} is not Prometheus text: ${JSON.stringify(line.slice(0, 80))}`);
    const [, name, labelText, valueText] = match;
    if (!wanted.has(name!)) continue;
    out
      .get(name!)!
      .push({ labels: parseLabels(labelText ?? "", lineNumber), value: parseValue(valueText!, lineNumber) });
  }
  return out;
}

function parseLabels(text: string, lineNumber: number): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const match = LABEL.exec(text);
    if (!match) {
      if (text.slice(at).trim() === "") break;
      throw new Error(`line ${lineNumber}: bad labels ${JSON.stringify(text.slice(0, 80))}`);
    }
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  }
  return labels;
}

function parseValue(text: string, lineNumber: number): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`line ${lineNumber}: value ${JSON.stringify(text)} is not a number`);
  return value;
}
