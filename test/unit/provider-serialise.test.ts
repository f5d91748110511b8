import Module from "node:module";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import {
  Authorization,
  Bucket,
  DbrpMapping,
  Onboarding,
  Organization,
  ServerReady,
  Task,
} from "../../components/provider";
import { providers, type ResourceKind, validInputs } from "../harness/provider-inputs";

/** Loads serialised provider text the way the dynamic-provider plugin does: as a module in the project. */
function load(text: string): pulumi.dynamic.ResourceProvider {
  const filename = join(process.cwd(), "serialised-provider.js");
  const m = new Module(filename) as Module & { _compile(code: string, filename: string): void };
  m.filename = filename;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(process.cwd());
  m._compile(text, filename);
  return (m.exports as { handler(): pulumi.dynamic.ResourceProvider }).handler();
}

describe.each(Object.keys(providers) as ResourceKind[])("%s provider, serialised by the Pulumi SDK", (kind) => {
  let text: string;
  beforeAll(async () => {
    text = (await pulumi.runtime.serializeFunction(() => providers[kind], { allowSecrets: true })).text;
  });

  it("captures no module object", () => {
    expect(text).not.toMatch(/require\(["']@pulumi\/pulumi["']\)/);
    expect(text).not.toContain("__vite_ssr_dynamic_import__");
  });

  it("still checks and diffs after being loaded back", async () => {
    const provider = load(text);
    const bad = {
      ...validInputs[kind],
      providerVersion: "next",
      description: 42,
      retentionSeconds: -1,
      url: "",
      timeoutSeconds: 0,
      isDefault: "no",
    };
    const failures = (await provider.check!({}, bad)).failures;
    expect(failures?.length).toBeGreaterThan(0);
    expect(failures).toEqual((await providers[kind].check!({}, bad)).failures);
    expect(
      await provider.diff!("id", validInputs[kind], {
        ...validInputs[kind],
        providerVersion: "next",
        timeoutSeconds: 1,
      }),
    ).toEqual({ changes: true, replaces: [] });
  });
});

describe("the resources construct under mocks with a serialised provider", () => {
  const registered: Record<string, Record<string, unknown>> = {};
  beforeAll(async () => {
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          registered[args.name] = args.inputs;
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "project",
      "stack",
      false,
    );
  });

  it.each([
    [
      "onboarding",
      () =>
        new Onboarding("onboarding", {
          url: "http://h:8086",
          username: "u",
          password: "password",
          org: "o",
          bucket: "b",
        }),
    ],
    ["org", () => new Organization("org", { connection: { url: "http://h:8086", token: "t" }, name: "o" })],
    [
      "bucket",
      () =>
        new Bucket("bucket", {
          connection: { url: "http://h:8086", token: "t" },
          orgId: "o",
          name: "b",
          retentionSeconds: 3600,
        }),
    ],
    [
      "task",
      () =>
        new Task("task", {
          connection: { url: "http://h:8086", token: "t" },
          orgId: "o",
          name: "t",
          flux: "x",
          every: "1h",
          status: "active",
        }),
    ],
    [
      "auth",
      () =>
        new Authorization("auth", {
          connection: { url: "http://h:8086", token: "t" },
          orgId: "o",
          description: "d",
          permissions: [],
        }),
    ],
    [
      "dbrp",
      () =>
        new DbrpMapping("dbrp", {
          connection: { url: "http://h:8086", token: "t" },
          orgId: "o",
          bucketId: "b",
          database: "d",
          retentionPolicy: "r",
          isDefault: true,
        }),
    ],
    ["ready", () => new ServerReady("ready", { url: "http://h:8086", timeoutSeconds: 5 })],
  ] as const)("%s", async (name, construct) => {
    const resource = construct();
    await new Promise<void>((resolve) => resource.urn.apply(() => resolve()));
    expect(registered[name].__provider).toEqual(expect.stringContaining("exports.handler"));
  });
});
