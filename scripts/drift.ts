// Drift detection: `npm run drift -- --stack dev`.
//
// Runs `pulumi preview --refresh --expect-no-changes --json` for the stack: the engine first reads every
// resource back from the real world (the InfluxDB providers ask the server), then plans what `pulumi up`
// would do to bring it back to the program. Nothing is changed. Prints which resources drifted and which
// of their properties, or "no drift". A configuration change that was committed but not yet applied
// shows up too: the stack is then just as far from what the program declares.
//
// Exit codes: 0 no drift, 3 drift found, 1 error (pulumi failed, or its output could not be read).
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";

/** Exit codes of this script. */
export const EXIT = { noDrift: 0, drift: 3, error: 1 } as const;

/** Pulumi's exit code when `--expect-no-changes` saw changes (since pulumi 3.227). */
const PULUMI_EXIT_CHANGES = 7;

/**
 * Step operations that change nothing: the refresh itself, unchanged resources, and the two halves
 * of a replacement (reported once, as `replace`).
 */
const QUIET_OPS = new Set(["same", "refresh", "read", "create-replacement", "delete-replaced", "discard"]);

/** One resource whose real state differs from the stack's state. */
export interface DriftedResource {
  /** Resource type token. */
  type: string;
  /** Logical name. */
  name: string;
  /**
   * What `pulumi up` would do about it: `update` or `replace` (properties differ), `create` (gone from
   * the real world), `delete` (no longer declared).
   */
  op: string;
  /** Top-level properties whose live value differs from the declared one, sorted. */
  properties: string[];
}

/** What the engine's JSON said. */
export interface DriftReport {
  /** Resources checked (the stack itself not counted). */
  checked: number;
  /** Resources that drifted. */
  drifted: DriftedResource[];
  /** Error diagnostics the engine reported. */
  errors: string[];
}

interface ResourceState {
  inputs?: Record<string, unknown>;
}

interface PreviewStep {
  op?: unknown;
  urn?: unknown;
  diffReasons?: unknown;
  replaceReasons?: unknown;
  detailedDiff?: unknown;
  oldState?: ResourceState;
  newState?: ResourceState;
}

/** Order-insensitive for object keys. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** A live value the program leaves unset: the server's default, not drift. */
function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === "" || value === 0 || value === false;
}

/**
 * Properties whose refreshed (old) value differs from the declared (new) one. Dynamic providers
 * cannot name them to the engine, so they are read off the two states; the serialised provider
 * itself is not a property.
 */
function changedInputs(step: PreviewStep): string[] {
  const live = step.oldState?.inputs ?? {};
  const declared = step.newState?.inputs ?? {};
  return [...new Set([...Object.keys(live), ...Object.keys(declared)])].filter((key) => {
    if (key === "__provider") return false;
    if (!(key in declared)) return !isEmpty(live[key]);
    return canonical(live[key]) !== canonical(declared[key]);
  });
}

/** `urn:pulumi:<stack>::<project>::<parent types$>type::name` into type and name. */
function splitUrn(urn: string): { type: string; name: string } {
  const [, , qualifiedType = "", ...nameParts] = urn.split("::");
  return { type: qualifiedType.split("$").pop() ?? qualifiedType, name: nameParts.join("::") };
}

/** Top-level property names of detailed-diff paths such as `permissions[0].resource.id`. */
function topLevel(paths: string[]): string[] {
  return [...new Set(paths.map((path) => path.split(/[.[]/)[0]))].sort();
}

/** Reads the JSON digest that `pulumi preview --refresh --json` prints. */
export function parseDriftReport(json: string): DriftReport {
  let digest: { steps?: unknown; diagnostics?: unknown };
  try {
    digest = JSON.parse(json) as typeof digest;
  } catch (error) {
    throw new Error(`pulumi did not print JSON: ${(error as Error).message}`);
  }
  if (typeof digest !== "object" || digest === null) throw new Error("pulumi printed JSON that is not an object");
  const steps = (Array.isArray(digest.steps) ? digest.steps : []) as PreviewStep[];
  const report: DriftReport = { checked: 0, drifted: [], errors: [] };
  const checked = new Set<string>();
  for (const step of steps) {
    if (typeof step.urn !== "string" || typeof step.op !== "string") continue;
    const { type, name } = splitUrn(step.urn);
    if (type === "pulumi:pulumi:Stack") continue;
    checked.add(step.urn);
    if (QUIET_OPS.has(step.op)) continue;
    const named = [
      ...(typeof step.detailedDiff === "object" && step.detailedDiff !== null ? Object.keys(step.detailedDiff) : []),
      ...(Array.isArray(step.diffReasons) ? step.diffReasons.map(String) : []),
      ...(Array.isArray(step.replaceReasons) ? step.replaceReasons.map(String) : []),
    ];
    const properties =
      step.op === "update" || step.op === "replace" ? topLevel(named.length > 0 ? named : changedInputs(step)) : [];
    report.drifted.push({ type, name, op: step.op, properties });
  }
  report.checked = checked.size;
  for (const diagnostic of (Array.isArray(digest.diagnostics) ? digest.diagnostics : []) as {
    severity?: unknown;
    message?: unknown;
  }[]) {
    if (diagnostic.severity === "error" && typeof diagnostic.message === "string")
      report.errors.push(diagnostic.message.trim());
  }
  return report;
}

function describe(resource: DriftedResource): string {
  switch (resource.op) {
    case "create":
      return "missing from the real world (up would create it)";
    case "delete":
      return "no longer declared (up would delete it)";
    default: {
      const properties =
        resource.properties.length > 0 ? resource.properties.join(", ") : "properties the engine did not name";
      return resource.op === "replace" ? `${properties} (up would replace it)` : properties;
    }
  }
}

/** The short human report. */
export function formatDriftReport(stack: string, report: DriftReport): string {
  if (report.drifted.length === 0) return `no drift in stack ${stack} (${report.checked} resources checked)`;
  const lines = report.drifted.map((r) => `  ${r.type} ${r.name}: ${describe(r)}`);
  const count = report.drifted.length === 1 ? "1 resource" : `${report.drifted.length} resources`;
  return [`drift in stack ${stack}: ${count} of ${report.checked} differ from the program`, ...lines].join("\n");
}

/** The exit code for a pulumi run: its own exit code and what its JSON said. */
export function driftExitCode(pulumiExitCode: number, report: DriftReport | undefined): number {
  if (report === undefined || report.errors.length > 0) return EXIT.error;
  const drifted = report.drifted.length > 0;
  if (pulumiExitCode === 0 && !drifted) return EXIT.noDrift;
  if (pulumiExitCode === PULUMI_EXIT_CHANGES && drifted) return EXIT.drift;
  // Any other combination (a failure, or changes the JSON does not name) cannot be reported honestly.
  return EXIT.error;
}

function runPulumi(args: string[], cwd: string | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.PULUMI_BINARY ?? "pulumi", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? EXIT.error, stdout, stderr }));
  });
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { stack: { type: "string", short: "s" }, cwd: { type: "string" } },
  });
  if (values.stack === undefined) {
    console.error("usage: npm run drift -- --stack <stack> [--cwd <project dir>]");
    return EXIT.error;
  }
  const args = ["preview", "--refresh", "--expect-no-changes", "--json", "--non-interactive", "--stack", values.stack];
  let result: Awaited<ReturnType<typeof runPulumi>>;
  try {
    result = await runPulumi(args, values.cwd);
  } catch (error) {
    console.error(`drift: cannot run pulumi: ${(error as Error).message}`);
    return EXIT.error;
  }
  let report: DriftReport | undefined;
  try {
    report = parseDriftReport(result.stdout);
  } catch (error) {
    console.error(`drift: ${(error as Error).message}`);
  }
  const code = driftExitCode(result.code, report);
  if (code === EXIT.error || report === undefined) {
    console.error(`drift: pulumi ${args.join(" ")} exited with ${result.code}`);
    for (const message of report?.errors ?? []) console.error(`  ${message}`);
    if (result.stderr.trim() !== "") console.error(result.stderr.trim());
    return code;
  }
  console.log(formatDriftReport(values.stack, report));
  return code;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
