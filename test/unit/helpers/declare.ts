// Runs the program under `pulumi.runtime.setMocks` and records what it declares: every resource with
// its type, name, parent type and inputs (secrets still wrapped, so tests can see they are secret),
// and the stack outputs with their secretness.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { CONFIG_NAMESPACE, type StackConfig } from "../../../components/config";
import { type ProgramOutputs, program } from "../../../components/program";

/** The engine's marker of a secret value in serialised properties. */
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

/** True when a value seen by the mock monitor is wrapped as a secret. */
export function isSecretValue(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The value with every secret wrapper removed, for comparing plain content. */
export function reveal(value: unknown): unknown {
  if (isSecretValue(value)) return reveal((value as { value: unknown }).value);
  if (Array.isArray(value)) return value.map(reveal);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}

/** One resource the program declared. */
export interface Declared {
  /** Type token, e.g. `pulumi-nodejs:dynamic/influxdb:Bucket`. */
  type: string;
  /** Logical name. */
  name: string;
  /** Type token of its parent (`pulumi:pulumi:Stack` for top-level components). */
  parentType: string;
  /** Inputs as the engine would receive them. */
  inputs: Record<string, unknown>;
  /** The resource options the engine acts on at delete and replace time. */
  options: DeclaredOptions;
}

/** Resource options as the engine receives them in the registration. */
export interface DeclaredOptions {
  /** Left in place (not deleted) when it leaves the stack. */
  retainOnDelete: boolean;
  /** Deleted before its replacement is created. */
  deleteBeforeReplace: boolean;
  /** Input changes the engine ignores. */
  ignoreChanges: string[];
}

/** The part of a registration request the mocks do not pass on. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getRetainondelete(): boolean | undefined;
  getDeletebeforereplace(): boolean;
  getIgnorechangesList(): string[];
}

/** A resolved output and whether it is secret. */
export interface Settled<T = unknown> {
  /** The value. */
  value: T;
  /** Whether Pulumi treats it as secret. */
  secret: boolean;
}

/** Outputs the mocks give each resource type beyond its inputs (what the real server would return). */
function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case "pulumi-nodejs:dynamic/influxdb:Onboarding":
      return {
        ...inputs,
        orgId: "onboarded-org-id",
        bucketId: "onboarded-bucket-id",
        userId: "admin-user-id",
        token: "operator-token-value",
      };
    case "pulumi-nodejs:dynamic/influxdb:Authorization":
      return { ...inputs, token: `${name}-token-value` };
    case "docker:index/remoteImage:RemoteImage":
      return { ...inputs, imageId: `sha256:${name}` };
    case "docker:index/image:Image":
      // What the docker provider reports of a local build: the image by its content digest.
      return { ...inputs, repoDigest: `${String(inputs.imageName).split(":")[0]}@sha256:${name}-build` };
    case "docker:index/network:Network":
      // The docker provider names networks itself; the mocks stand in for it.
      return { ...inputs, name: `${name}-mock` };
    default:
      return inputs;
  }
}

function settle<T>(output: pulumi.Output<T>): Promise<Settled<T>> {
  return new Promise((resolve) => {
    output.apply(async (value) => resolve({ value, secret: await pulumi.isSecret(output) }));
  });
}

/** The `ha-influx:*` settings of a stack file, as `readStackConfig` would hand them over. */
export function stackFileSettings(file: string): Record<string, unknown> {
  const document = parse(readFileSync(join(__dirname, "..", "..", "..", file), "utf8")) as {
    config: Record<string, unknown>;
  };
  const prefix = `${CONFIG_NAMESPACE}:`;
  return Object.fromEntries(
    Object.entries(document.config)
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, value]) => [key.slice(prefix.length), value]),
  );
}

/** Sets one `a.b.c` path in a settings object, as `pulumi config set --path` does. */
export function setPath(settings: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(settings);
  const keys = path.split(".");
  let node = copy;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
  return copy;
}

/** What the program declared and exported. */
export interface Declaration {
  /** Every resource, components included, in registration order. */
  resources: Declared[];
  /** The stack outputs, resolved. */
  outputs: {
    url: Settled<string>;
    orgName: Settled<string>;
    orgId: Settled<string>;
    buckets: Settled<Record<string, { name: string; id: string }>>;
    taskIds: Settled<Record<string, string | undefined>>;
    tokens: Record<string, Settled<string> | undefined>;
    writerConfig?: Settled<unknown>;
    analysisConfig?: Settled<unknown>;
  };
}

/** Declares the program for `cfg` under mocks (once per test file: mocks are process-wide). */
export async function declareProgram(cfg: StackConfig, stack: string): Promise<Declaration> {
  const seen: Omit<Declared, "parentType" | "options">[] = [];
  const options = new Map<string, DeclaredOptions>();
  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name, inputs }) => {
        seen.push({ type, name, inputs });
        return { id: `${name}-id`, state: mockState(type, name, inputs) };
      },
      call: ({ inputs }) => inputs,
    },
    "ha-influx",
    stack,
    false,
  );
  // The mocks hand `newResource` the inputs only; the options are read off the request itself.
  const mockMonitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, callback: unknown): Promise<void>;
  };
  const register = mockMonitor.registerResource.bind(mockMonitor);
  mockMonitor.registerResource = (req, callback) => {
    options.set(`${req.getType()}::${req.getName()}`, {
      retainOnDelete: req.getRetainondelete() ?? false,
      deleteBeforeReplace: req.getDeletebeforereplace(),
      ignoreChanges: req.getIgnorechangesList(),
    });
    return register(req, callback);
  };
  const declared: ProgramOutputs = program(cfg, stack);
  const optional = (output?: pulumi.Output<string>) => (output === undefined ? undefined : settle(output));
  const outputs: Declaration["outputs"] = {
    url: await settle(declared.url),
    orgName: await settle(declared.orgName),
    orgId: await settle(declared.orgId),
    buckets: await settle(pulumi.output(declared.buckets)),
    taskIds: await settle(pulumi.output(declared.taskIds)),
    tokens: {
      writer: await optional(declared.tokens.writer),
      reader: await optional(declared.tokens.reader),
      monitor: await optional(declared.tokens.monitor),
    },
    writerConfig: declared.writerConfig === undefined ? undefined : await settle(declared.writerConfig),
    analysisConfig: declared.analysisConfig === undefined ? undefined : await settle(declared.analysisConfig),
  };
  const monitor = pulumi.runtime.getMonitor() as unknown as { getRegisteredResources(): Map<string, unknown> };
  await pulumi.runtime.disconnect();
  const parents = new Map<string, string>();
  for (const urn of monitor.getRegisteredResources().keys()) {
    // urn:pulumi:<stack>::<project>::<parent types joined by $>$<type>::<name>
    const [, , qualifiedType, name] = urn.split("::");
    const types = qualifiedType.split("$");
    parents.set(
      `${types[types.length - 1]}::${name}`,
      types.length > 1 ? types[types.length - 2] : "pulumi:pulumi:Stack",
    );
  }
  const resources = seen.map((r) => ({
    ...r,
    parentType: parents.get(`${r.type}::${r.name}`) ?? "(unregistered)",
    options: options.get(`${r.type}::${r.name}`) ?? {
      retainOnDelete: false,
      deleteBeforeReplace: false,
      ignoreChanges: [],
    },
  }));
  return { resources, outputs };
}

/** Type prefix of the InfluxDB dynamic resources. */
export const DYNAMIC = "pulumi-nodejs:dynamic/influxdb";

/** The declaration as `parent type > type name` lines, sorted. */
export function graphOf(declaration: Declaration): string[] {
  return declaration.resources.map((r) => `${r.parentType} > ${r.type} ${r.name}`).sort();
}

/** The six buckets and their InfluxQL mappings, as {@link graphOf} lines. */
export function bucketGraph(): string[] {
  return ["events", "weather", "system", "sports", "hourly", "daily"].flatMap((role) => [
    `ha-influx:tenancy:Tenancy > ${DYNAMIC}:Bucket home-assistant-${role}`,
    `ha-influx:tenancy:Tenancy > ${DYNAMIC}:DbrpMapping home-assistant-${role}-dbrp`,
  ]);
}

/** What every stack with all tasks, tokens and the writer declares below the server, as {@link graphOf} lines. */
export function graphBelowServer(): string[] {
  return [
    "pulumi:pulumi:Stack > ha-influx:tenancy:Tenancy home-assistant",
    "pulumi:pulumi:Stack > ha-influx:downsampling:Downsampling rollup",
    "pulumi:pulumi:Stack > ha-influx:tokens:Tokens token",
    "pulumi:pulumi:Stack > ha-influx:writer:WriterService writer",
    ...bucketGraph(),
    `ha-influx:downsampling:Downsampling > ${DYNAMIC}:Task rollup-hourly`,
    `ha-influx:downsampling:Downsampling > ${DYNAMIC}:Task rollup-daily`,
    `ha-influx:tokens:Tokens > ${DYNAMIC}:Authorization token-writer`,
    `ha-influx:tokens:Tokens > ${DYNAMIC}:Authorization token-reader`,
    `ha-influx:tokens:Tokens > ${DYNAMIC}:Authorization token-monitor`,
    "ha-influx:writer:WriterService > docker:index/image:Image writer-image",
    "ha-influx:writer:WriterService > docker:index/volume:Volume writer-spool",
    "ha-influx:writer:WriterService > docker:index/container:Container writer",
  ];
}

/** The resource options of one declared resource; throws when it was not declared. */
export function optionsOf(declaration: Declaration, type: string, name: string): DeclaredOptions {
  const found = declaration.resources.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`not declared: ${type} ${name}`);
  return found.options;
}

/** The inputs of one declared resource, secrets unwrapped; throws when it was not declared. */
export function inputsOf(declaration: Declaration, type: string, name: string): Record<string, unknown> {
  const found = declaration.resources.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`not declared: ${type} ${name}`);
  return found.inputs;
}
