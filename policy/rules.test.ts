// The policy rules as tables, and the policies as CrossGuard calls them.
import type { PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import { finiteRetention, leastPrivilegeTokens, rollupOutlivesRaw } from "./policies";
import {
  AUTHORIZATION_TYPE,
  BUCKET_TYPE,
  ONBOARDING_TYPE,
  retentionViolations,
  rollupBuckets,
  rollupRetentionViolations,
  TASK_TYPE,
  tokenViolations,
} from "./rules";

const DAY = 86_400;

describe("retentionViolations", () => {
  it.each<[unknown, string[]]>([
    [3_600, []],
    [365 * DAY, []],
    [0, ["bucket b keeps data forever: set a finite retention of at least 3600 s"]],
    [undefined, ["bucket b keeps data forever: set a finite retention of at least 3600 s"]],
    [3_599, ["bucket b has retention 3599 s: it must be at least 3600 s"]],
    [-1, ["bucket b has retention -1 s: it must be at least 3600 s"]],
    ["30d", ['bucket b has retention "30d" s: it must be at least 3600 s']],
  ])("retention %j gives %j", (seconds, expected) => {
    expect(retentionViolations("bucket b", seconds)).toEqual(expected);
  });
});

describe("tokenViolations", () => {
  const bucket = (action: string, id?: string) => ({
    action,
    resource: { type: "buckets", orgId: "o1", ...(id ? { id } : {}) },
  });
  it.each<[string, unknown, string[]]>([
    ["writes bound to bucket ids", [bucket("write", "b1"), bucket("write", "b2")], []],
    ["read of every bucket in the org", [bucket("read")], []],
    [
      "write to every bucket in the org",
      [bucket("write", "b1"), bucket("write")],
      ["token t may write to every buckets in org o1: bind the permission to a resource id"],
    ],
    [
      "write to every bucket on the server",
      [{ action: "write", resource: { type: "buckets" } }],
      ["token t may write to every buckets on the server: bind the permission to a resource id"],
    ],
    [
      "an all-access token",
      ["authorizations", "buckets", "users", "orgs", "tasks"].flatMap((type) =>
        ["read", "write"].map((action) => ({ action, resource: { type, orgId: "o1" } })),
      ),
      ["token t is an all-access (operator-like) token: it may write authorizations, users, orgs"],
    ],
    ["write of one org by id", [{ action: "write", resource: { type: "orgs", id: "o1" } }], []],
    ["no permission list", undefined, ["token t has no permission list to check"]],
  ])("%s", (_case, permissions, expected) => {
    expect(tokenViolations("token t", permissions)).toEqual(expected);
  });
});

describe("rollupBuckets", () => {
  it("reads source and target bucket from a rollup's Flux, quotes and all", () => {
    expect(rollupBuckets('numeric = from(bucket: "raw \\"events\\"")\n  |> to(bucket: "hourly")')).toEqual({
      source: 'raw "events"',
      target: "hourly",
    });
  });

  it("ignores Flux that is no rollup", () => {
    expect(rollupBuckets('from(bucket: "raw") |> yield()')).toBeUndefined();
  });
});

describe("rollupRetentionViolations", () => {
  const task = { name: "rollup-hourly", flux: 'from(bucket: "raw") |> to(bucket: "hourly")' };
  it.each<[string, number, number, string[]]>([
    ["rollup kept longer", 365 * DAY, 730 * DAY, []],
    ["rollup kept forever", 365 * DAY, 0, []],
    [
      "rollup kept as long",
      365 * DAY,
      365 * DAY,
      [
        "task rollup-hourly rolls raw (31536000 s) up into hourly (31536000 s): the rollup must be kept longer than its source",
      ],
    ],
    [
      "rollup kept shorter",
      365 * DAY,
      30 * DAY,
      [
        "task rollup-hourly rolls raw (31536000 s) up into hourly (2592000 s): the rollup must be kept longer than its source",
      ],
    ],
    [
      "source kept forever",
      0,
      730 * DAY,
      [
        "task rollup-hourly rolls raw (0 s) up into hourly (63072000 s): the rollup must be kept longer than its source",
      ],
    ],
  ])("%s", (_case, raw, hourly, expected) => {
    const buckets = [
      { name: "raw", retentionSeconds: raw },
      { name: "hourly", retentionSeconds: hourly },
    ];
    expect(rollupRetentionViolations([task], buckets)).toEqual(expected);
  });

  it("leaves tasks over buckets it does not know alone", () => {
    expect(rollupRetentionViolations([task], [{ name: "raw", retentionSeconds: DAY }])).toEqual([]);
  });
});

describe("the policies as the engine calls them", () => {
  const resource = (type: string, name: string, props: Record<string, unknown>) => ({
    type,
    name,
    props,
    urn: `urn:${name}`,
  });
  const violationsOf = (policy: typeof finiteRetention, type: string, name: string, props: Record<string, unknown>) => {
    const found: string[] = [];
    policy.validateResource(resource(type, name, props) as unknown as ResourceValidationArgs, (message) =>
      found.push(message),
    );
    return found;
  };

  it("finite retention checks buckets and the onboarding's initial bucket, nothing else", () => {
    expect(violationsOf(finiteRetention, BUCKET_TYPE, "b", { name: "events", retentionSeconds: 0 })).toEqual([
      "bucket events keeps data forever: set a finite retention of at least 3600 s",
    ]);
    expect(violationsOf(finiteRetention, ONBOARDING_TYPE, "o", { bucket: "init" })).toEqual([
      "initial bucket init keeps data forever: set a finite retention of at least 3600 s",
    ]);
    expect(violationsOf(finiteRetention, TASK_TYPE, "t", {})).toEqual([]);
  });

  it("least privilege checks authorizations", () => {
    expect(
      violationsOf(leastPrivilegeTokens, AUTHORIZATION_TYPE, "token-writer", {
        permissions: [{ action: "write", resource: { type: "buckets", orgId: "o" } }],
      }),
    ).toEqual(["token token-writer may write to every buckets in org o: bind the permission to a resource id"]);
  });

  it("the rollup rule joins tasks and buckets of the whole stack", () => {
    const found: string[] = [];
    const resources = [
      resource(BUCKET_TYPE, "home-assistant-events", { name: "raw", retentionSeconds: 365 * DAY }),
      resource(BUCKET_TYPE, "home-assistant-daily", { name: "daily", retentionSeconds: 90 * DAY }),
      resource(TASK_TYPE, "rollup-daily", { flux: 'from(bucket: "raw") |> to(bucket: "daily")' }),
    ] as unknown as PolicyResource[];
    rollupOutlivesRaw.validateStack({ resources } as StackValidationArgs, (message) => found.push(message));
    expect(found).toEqual([
      "task rollup-daily rolls raw (31536000 s) up into daily (7776000 s): the rollup must be kept longer than its source",
    ]);
  });
});
