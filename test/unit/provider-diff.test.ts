import { describe, expect, it } from "vitest";
import { canonical } from "../../components/provider/common";
import { providers, type ResourceKind, validInputs } from "../harness/provider-inputs";

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** The state (outputs) each provider would have stored for `validInputs`. */
const stored: Record<ResourceKind, Record<string, unknown>> = {
  onboarding: { ...validInputs.onboarding, orgId: "o1", bucketId: "b1", userId: "u1", token: "generated" },
  organization: validInputs.organization,
  bucket: validInputs.bucket,
  task: validInputs.task,
  authorization: { ...validInputs.authorization, status: "active", token: "secret" },
  dbrp: validInputs.dbrp,
  serverReady: { ...validInputs.serverReady, version: "v2.7.12" },
};

async function diff(kind: ResourceKind, changes: Record<string, unknown>) {
  const news: Record<string, unknown> = { ...validInputs[kind], ...changes };
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete news[key];
  return providers[kind].diff!("id", stored[kind], news);
}

const newConnection = { url: "http://127.0.0.1:9999", token: "rotated" };

describe("diff", () => {
  it.each(Object.keys(stored) as ResourceKind[])("%s: unchanged inputs give no changes", async (kind) => {
    expect(await diff(kind, {})).toEqual({ changes: false, replaces: [] });
  });

  it.each([
    ["organization", { name: "renamed" }],
    ["organization", { description: "now described" }],
    ["organization", { connection: newConnection }],
    ["organization", { providerVersion: "next" }],
    ["bucket", { name: "renamed" }],
    ["bucket", { retentionSeconds: 30 * 86_400 }],
    ["bucket", { shardGroupDurationSeconds: 86_400 }],
    ["bucket", { description: "now described" }],
    ["bucket", { providerVersion: "next" }],
    ["task", { name: "renamed" }],
    ["task", { flux: 'from(bucket: "other")' }],
    ["task", { every: "2h" }],
    ["task", { every: undefined, cron: "0 * * * *" }],
    ["task", { offset: "10m" }],
    ["task", { offset: undefined }],
    ["task", { status: "inactive" }],
    ["task", { description: "now described" }],
    ["authorization", { description: "reader" }],
    ["authorization", { status: "inactive" }],
    ["authorization", { connection: newConnection }],
    ["dbrp", { retentionPolicy: "one_year" }],
    ["dbrp", { isDefault: false }],
    ["onboarding", { providerVersion: "next" }],
    ["serverReady", { timeoutSeconds: 60 }],
    ["serverReady", { trigger: "container-2" }],
    ["serverReady", { url: "http://127.0.0.1:9999" }],
  ] as const)("%s %j updates in place", async (kind, changes) => {
    expect(await diff(kind, changes)).toEqual({ changes: true, replaces: [] });
  });

  it.each([
    ["bucket", { orgId: "org2" }, ["orgId"]],
    ["bucket", { orgId: UNKNOWN, retentionSeconds: 3600 }, ["orgId"]],
    ["task", { orgId: "org2" }, ["orgId"]],
    ["authorization", { orgId: "org2" }, ["orgId"]],
    [
      "authorization",
      { permissions: [{ action: "read", resource: { type: "buckets", id: "b1", orgId: "org1" } }] },
      ["permissions"],
    ],
    ["authorization", { permissions: UNKNOWN }, ["permissions"]],
    ["authorization", { permissions: [UNKNOWN] }, ["permissions"]],
    [
      "authorization",
      { permissions: [{ action: "write", resource: { type: "buckets", id: UNKNOWN, orgId: "org1" } }] },
      ["permissions"],
    ],
    ["dbrp", { bucketId: "b2" }, ["bucketId"]],
    ["dbrp", { database: "other", orgId: "org2" }, ["orgId", "database"]],
    ["onboarding", { password: "another-password" }, ["password"]],
    ["onboarding", { url: "http://127.0.0.1:9999" }, ["url"]],
    ["onboarding", { org: "o2", bucket: "b2" }, ["org", "bucket"]],
    ["onboarding", { retentionSeconds: 3600 }, ["retentionSeconds"]],
    ["onboarding", { token: "chosen" }, ["token"]],
  ] as const)("%s %j replaces %j", async (kind, changes, replaces) => {
    expect(await diff(kind, changes)).toEqual({
      changes: true,
      replaces,
      ...(kind === "dbrp" ? { deleteBeforeReplace: true } : {}),
    });
  });

  it("bucket: a server-chosen shard-group duration is not a change", async () => {
    expect(await diff("bucket", { shardGroupDurationSeconds: undefined })).toEqual({ changes: false, replaces: [] });
  });

  it.each(["organization", "bucket", "task"] as const)(
    "%s: an empty description equals none, on either side, and an unchanged one is no change",
    async (kind) => {
      const provider = providers[kind];
      const none: Record<string, unknown> = { ...validInputs[kind] };
      delete none.description;
      const noChange = { changes: false, replaces: [] };
      expect(await provider.diff!("id", { ...none, description: "" }, none)).toEqual(noChange);
      expect(await provider.diff!("id", none, { ...none, description: "" })).toEqual(noChange);
      const described = { ...none, description: "kept" };
      expect(await provider.diff!("id", described, { ...described })).toEqual(noChange);
    },
  );

  it("organization: a connection read back with its keys in another order is not a change", async () => {
    const { url, token } = validInputs.organization.connection;
    expect(await diff("organization", { connection: { token, url } })).toEqual({ changes: false, replaces: [] });
  });

  it("authorization: permission order and server-added fields are not changes", async () => {
    const permissions = [
      { action: "write", resource: { type: "buckets", id: "b1", orgId: "org1" } },
      { action: "read", resource: { type: "orgs", id: "org1" } },
    ];
    const reordered = { ...stored.authorization, permissions: [...permissions].reverse() };
    expect(await providers.authorization.diff!("id", reordered, { ...validInputs.authorization, permissions })).toEqual(
      { changes: false, replaces: [] },
    );
  });

  it("authorization: an absent status is active", async () => {
    expect(await diff("authorization", { status: "active" })).toEqual({ changes: false, replaces: [] });
  });

  it("onboarding: a server-generated token is not a change", async () => {
    expect(await diff("onboarding", { token: undefined })).toEqual({ changes: false, replaces: [] });
  });
});

describe("canonical, the text diff compares values by", () => {
  /** Every ordering of `items`. */
  const orderings = <T>(items: T[]): T[][] =>
    items.length <= 1
      ? [items]
      : items.flatMap((item, i) =>
          orderings([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
        );

  it("ignores the order of object keys, at every depth", () => {
    const entries: [string, unknown][] = [
      ["url", "http://h"],
      ["token", "t"],
      ["b", 2],
      ["a", { y: 1, x: [{ q: 1, p: 2 }] }],
    ];
    const texts = new Set(orderings(entries).map((order) => canonical(Object.fromEntries(order))));
    expect(texts.size).toBe(1);
    expect(canonical({ a: { x: [{ p: 2, q: 1 }], y: 1 } })).toBe(canonical({ a: { y: 1, x: [{ q: 1, p: 2 }] } }));
  });

  it("treats a key whose value is undefined as absent", () => {
    expect(canonical({ a: 1, b: undefined })).toBe(canonical({ a: 1 }));
  });

  it.each([
    [1, 2],
    ["1", 1],
    [null, {}],
    [null, "null"],
    [
      [1, 2],
      [2, 1],
    ],
    [
      [1, 23],
      [12, 3],
    ],
    [[1], { 0: 1 }],
    [[undefined], []],
    [{ a: 1 }, { a: 2 }],
    [{ a: 1 }, { b: 1 }],
  ])("tells %j and %j apart", (a, b) => {
    expect(canonical(a)).not.toBe(canonical(b));
  });
});
