import { describe, expect, it } from "vitest";
import { PERMISSION_TYPES } from "../../components/provider";
import { providers, type ResourceKind, validInputs } from "../harness/provider-inputs";

/** The engine's marker for a value not known during preview. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

async function check(kind: ResourceKind, changes: Record<string, unknown>) {
  const news = { ...validInputs[kind], ...changes };
  for (const [key, value] of Object.entries(changes))
    if (value === undefined) delete (news as Record<string, unknown>)[key];
  return (await providers[kind].check!({}, news)).failures ?? [];
}

describe("check accepts valid inputs", () => {
  it.each(Object.keys(validInputs) as ResourceKind[])("%s", async (kind) => {
    expect(await check(kind, {})).toEqual([]);
  });

  it.each([
    ["bucket", { orgId: UNKNOWN, name: UNKNOWN }],
    ["task", { orgId: UNKNOWN, every: UNKNOWN }],
    ["authorization", { permissions: UNKNOWN }],
    ["dbrp", { bucketId: UNKNOWN, database: UNKNOWN, isDefault: UNKNOWN }],
    ["organization", { connection: UNKNOWN }],
    ["organization", { connection: { url: UNKNOWN, token: UNKNOWN } }],
    ["task", { every: UNKNOWN, cron: "0 * * * *" }],
    ["task", { every: undefined, cron: UNKNOWN }],
    [
      "authorization",
      {
        permissions: [
          UNKNOWN,
          { action: UNKNOWN, resource: UNKNOWN },
          { action: "read", resource: { type: UNKNOWN, id: UNKNOWN } },
        ],
      },
    ],
  ] as const)("%s with values not known until apply: %j", async (kind, changes) => {
    expect(await check(kind, changes)).toEqual([]);
  });

  it.each([
    ["bucket", { retentionSeconds: 0, shardGroupDurationSeconds: undefined }],
    ["bucket", { retentionSeconds: 3600, shardGroupDurationSeconds: 3600 }],
    ["bucket", { retentionSeconds: 0, shardGroupDurationSeconds: 7 * 86_400 }],
    ["task", { every: undefined, cron: "0 * * * *", offset: undefined }],
    ["task", { every: undefined, cron: "*/15 0-6 * * 1-5" }],
    ["task", { every: undefined, cron: "0 30 */2 * * *" }],
    ["task", { every: undefined, cron: " 0 * * * *\n" }],
    ["task", { flux: 'from(bucket: "b") |> filter(fn: (r) => r.note == "option task = x")' }],
    ["task", { every: "1h30m", offset: "1mo" }],
    ["authorization", { status: "inactive" }],
    ["onboarding", { retentionSeconds: 0, token: "t" }],
    ["onboarding", { retentionSeconds: 3600, password: "8-chars!" }],
  ] as const)("%s %j", async (kind, changes) => {
    expect(await check(kind, changes)).toEqual([]);
  });
});

describe("check rejects bad inputs, naming the property", () => {
  it.each([
    ["organization", { name: "" }, "name", "name must be a non-empty string"],
    [
      "organization",
      { connection: { url: "127.0.0.1:8086", token: "t" } },
      "connection.url",
      "connection.url must be an http(s) URL",
    ],
    [
      "organization",
      { connection: { url: "http://h", token: "" } },
      "connection.token",
      "connection.token must be a non-empty string",
    ],
    ["organization", { connection: undefined }, "connection", "connection must be an object with url and token"],
    [
      "bucket",
      { retentionSeconds: 60, shardGroupDurationSeconds: undefined },
      "retentionSeconds",
      "retentionSeconds must be 0 (forever) or at least 3600 (InfluxDB rejects shorter), got 60",
    ],
    ["bucket", { retentionSeconds: -1 }, "retentionSeconds", "retentionSeconds must be a whole number >= 0, got -1"],
    [
      "bucket",
      { retentionSeconds: 3600.5, shardGroupDurationSeconds: undefined },
      "retentionSeconds",
      "retentionSeconds must be a whole number >= 0, got 3600.5",
    ],
    [
      "bucket",
      { retentionSeconds: "1d" },
      "retentionSeconds",
      'retentionSeconds must be a whole number >= 0, got "1d"',
    ],
    [
      "bucket",
      { shardGroupDurationSeconds: 0 },
      "shardGroupDurationSeconds",
      "shardGroupDurationSeconds must be a whole number >= 1, got 0",
    ],
    [
      "bucket",
      { retentionSeconds: 86_400, shardGroupDurationSeconds: 7 * 86_400 },
      "shardGroupDurationSeconds",
      "shardGroupDurationSeconds (604800) must not exceed retentionSeconds (86400)",
    ],
    ["bucket", { orgId: undefined }, "orgId", "orgId must be a non-empty string"],
    ["task", { every: undefined, offset: undefined }, "every", "exactly one of every and cron must be set"],
    ["task", { cron: "0 * * * *" }, "cron", "exactly one of every and cron must be set"],
    ["task", { every: "1 hour" }, "every", 'every must be a Flux duration such as 1h or 5m, got "1 hour"'],
    ["task", { offset: "5" }, "offset", 'offset must be a Flux duration such as 1h or 5m, got "5"'],
    [
      "task",
      { every: undefined, cron: "hourly" },
      "cron",
      'cron must be a cron expression of 5 or 6 fields, got "hourly"',
    ],
    [
      "task",
      { flux: 'option task = {name: "x", every: 1h}\nfrom(bucket: "b")' },
      "flux",
      "flux must not set `option task`; the provider builds it from name, every, cron and offset",
    ],
    ["task", { status: "paused" }, "status", 'status must be one of "active", "inactive", got "paused"'],
    ["authorization", { permissions: [] }, "permissions", "permissions must be a non-empty list"],
    [
      "authorization",
      { permissions: [{ action: "delete", resource: { type: "buckets" } }] },
      "permissions[0].action",
      'permissions[0].action must be "read" or "write"',
    ],
    [
      "authorization",
      { permissions: [{ action: "read", resource: { type: "bucket" } }] },
      "permissions[0].resource.type",
      `permissions[0].resource.type must be one of ${PERMISSION_TYPES.join(", ")}, got "bucket"`,
    ],
    [
      "authorization",
      { permissions: [{ action: "read" }] },
      "permissions[0].resource.type",
      "permissions[0].resource.type must be one of authorizations, buckets,",
    ],
    ["authorization", { status: "on" }, "status", 'status must be one of "active", "inactive", got "on"'],
    ["authorization", { description: "" }, "description", "description must be a non-empty string"],
    ["dbrp", { isDefault: "yes" }, "isDefault", "isDefault must be true or false"],
    ["dbrp", { retentionPolicy: "" }, "retentionPolicy", "retentionPolicy must be a non-empty string"],
    [
      "onboarding",
      { password: "short" },
      "password",
      "password must be a string of at least 8 characters (InfluxDB's minimum)",
    ],
    [
      "onboarding",
      { retentionSeconds: 1800 },
      "retentionSeconds",
      "retentionSeconds must be 0 (forever) or at least 3600 (InfluxDB rejects shorter), got 1800",
    ],
    ["onboarding", { org: "" }, "org", "org must be a non-empty string"],
    ["serverReady", { timeoutSeconds: 0 }, "timeoutSeconds", "timeoutSeconds must be a whole number >= 1, got 0"],
    ["serverReady", { trigger: 42 }, "trigger", "trigger must be a non-empty string"],
    ["organization", { name: "   " }, "name", "name must be a non-empty string"],
    ["organization", { description: 42 }, "description", "description must be a non-empty string"],
    ["organization", { connection: null }, "connection", "connection must be an object with url and token"],
    [
      "organization",
      { connection: { url: " http://h", token: "t" } },
      "connection.url",
      "connection.url must be an http(s) URL",
    ],
    [
      "organization",
      { connection: { url: ["http://h"], token: "t" } },
      "connection.url",
      "connection.url must be an http(s) URL",
    ],
    [
      "organization",
      { connection: { url: "http://h", token: 42 } },
      "connection.token",
      "connection.token must be a non-empty string",
    ],
    [
      "organization",
      { connection: { url: "http://h" } },
      "connection.token",
      "connection.token must be a non-empty string",
    ],
    [
      "bucket",
      { retentionSeconds: undefined },
      "retentionSeconds",
      "retentionSeconds must be a whole number >= 0, got undefined",
    ],
    [
      "bucket",
      { retentionSeconds: "60" },
      "retentionSeconds",
      'retentionSeconds must be a whole number >= 0, got "60"',
    ],
    [
      "bucket",
      { retentionSeconds: 86_400, shardGroupDurationSeconds: "604800" },
      "shardGroupDurationSeconds",
      'shardGroupDurationSeconds must be a whole number >= 1, got "604800"',
    ],
    ["bucket", { description: 42 }, "description", "description must be a non-empty string"],
    ["task", { description: 42 }, "description", "description must be a non-empty string"],
    ["task", { status: undefined }, "status", 'status must be one of "active", "inactive", got undefined'],
    [
      "task",
      { flux: '  option task = {name: "x", every: 1h}\nfrom(bucket: "b")' },
      "flux",
      "flux must not set `option task`",
    ],
    ["task", { flux: 'option  task = {name: "x"}\nfrom(bucket: "b")' }, "flux", "flux must not set `option task`"],
    ["task", { flux: 'option task= {name: "x"}\nfrom(bucket: "b")' }, "flux", "flux must not set `option task`"],
    ["task", { flux: ['option task = {name: "x"}', 'from(bucket: "b")'] }, "flux", "flux must be a non-empty string"],
    ["task", { every: ["1h"] }, "every", 'every must be a Flux duration such as 1h or 5m, got ["1h"]'],
    [
      "task",
      { every: undefined, cron: "0 0 * * * * 2026" },
      "cron",
      'cron must be a cron expression of 5 or 6 fields, got "0 0 * * * * 2026"',
    ],
    ["task", { every: undefined, cron: 5 }, "cron", "cron must be a cron expression of 5 or 6 fields, got 5"],
    ["dbrp", { isDefault: undefined }, "isDefault", "isDefault must be true or false"],
    [
      "onboarding",
      { password: 12_345_678 },
      "password",
      "password must be a string of at least 8 characters (InfluxDB's minimum)",
    ],
    [
      "onboarding",
      { password: undefined },
      "password",
      "password must be a string of at least 8 characters (InfluxDB's minimum)",
    ],
    [
      "onboarding",
      { retentionSeconds: 7200.5 },
      "retentionSeconds",
      "retentionSeconds must be a whole number >= 0, got 7200.5",
    ],
    [
      "onboarding",
      { retentionSeconds: "60" },
      "retentionSeconds",
      'retentionSeconds must be a whole number >= 0, got "60"',
    ],
    ["onboarding", { token: 42 }, "token", "token must be a non-empty string"],
  ] as const)("%s %j → %s", async (kind, changes, property, reason) => {
    const failures = await check(kind, changes);
    expect(failures).toHaveLength(1);
    expect(failures[0].property).toBe(property);
    expect(failures[0].reason).toContain(reason);
  });
});

describe("check rejects a bad connection on every resource that talks to the server", () => {
  it.each(["organization", "bucket", "task", "authorization", "dbrp"] as const)("%s", async (kind) => {
    expect(await check(kind, { connection: { url: "influx:8086", token: "t" } })).toEqual([
      { property: "connection.url", reason: "connection.url must be an http(s) URL" },
    ]);
  });
});

describe("check names each part of a permission that is missing", () => {
  it("an empty entry in the list fails on its action and its resource type", async () => {
    const failures = await check("authorization", { permissions: [null] });
    expect(failures.map((f) => f.property)).toEqual(["permissions[0].action", "permissions[0].resource.type"]);
  });
});
