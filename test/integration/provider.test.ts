// Every dynamic provider against a real influxd: create, read, update in place, replace, delete,
// delete when already gone, read after an out-of-band change, and tokens whose permissions the server
// enforces. The provider objects are driven directly, the way the engine calls them.
import { describe, expect, it } from "vitest";
import * as provider from "../../components/provider";
import {
  type AuthorizationInputs,
  type AuthorizationOutputs,
  type BucketInputs,
  type BucketOutputs,
  type DbrpMappingInputs,
  type OrganizationInputs,
  type Permission,
  PROVIDER_VERSION,
  type TaskInputs,
  waitForHealthy,
} from "../../components/provider";
import { asPlugin } from "../harness/engine";
import { locateInfluxd, randomSecret } from "../harness/influxd";
import { useInfluxd } from "../harness/vitest";

const organizationProvider = asPlugin(provider.organizationProvider);
const bucketProvider = asPlugin(provider.bucketProvider);
const taskProvider = asPlugin(provider.taskProvider);
const authorizationProvider = asPlugin(provider.authorizationProvider);
const dbrpProvider = asPlugin(provider.dbrpProvider);
const onboardingProvider = asPlugin(provider.onboardingProvider);
const serverReadyProvider = asPlugin(provider.serverReadyProvider);

const influxdFound = locateInfluxd() !== undefined;
const DAY = 86_400;

/** A copy with every token and password masked, so a failing assertion never prints a secret. */
function redact<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redact) as T;
  if (value === null || typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k === "token" || k === "password" ? (v === undefined ? v : "[secret]") : redact(v),
    ]),
  ) as T;
}

interface Answer {
  status: number;
  body: unknown;
}

/** One HTTP call to the server; the token goes in the header and is never printed. */
async function call(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Token ${token}`, ...(body === undefined ? {} : { "content-type": contentType }) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed };
}

describe.skipIf(!influxdFound)("InfluxDB providers against a real influxd", () => {
  const server = useInfluxd({ org: "provider-tests", bucket: "onboarded" });
  const connection = () => ({ url: server().url, token: server().token });
  const admin = (method: string, path: string, body?: unknown) =>
    call(server().url, server().token, method, path, body);
  const base = () => ({ connection: connection(), providerVersion: PROVIDER_VERSION });

  async function newOrg(name: string): Promise<string> {
    return (await organizationProvider.create({ ...base(), name })).id;
  }

  describe("Organization", () => {
    it("creates, reads, updates in place, sees out-of-band changes, deletes, and deletes again", async () => {
      const inputs: OrganizationInputs = { ...base(), name: "org-lifecycle", description: "first" };
      const { id, outs } = await organizationProvider.create(inputs);
      expect(redact(outs)).toEqual(redact(inputs));
      expect(redact(await admin("GET", `/api/v2/orgs/${id}`))).toMatchObject(
        redact({ status: 200, body: { name: "org-lifecycle", description: "first" } }),
      );

      const read = await organizationProvider.read!(id, outs);
      expect(redact(read)).toEqual(redact({ id, props: inputs, inputs }));
      expect(redact(await organizationProvider.diff!(id, read.props!, inputs))).toEqual(
        redact({ changes: false, replaces: [] }),
      );

      const renamed: OrganizationInputs = { ...inputs, name: "org-lifecycle-renamed", description: undefined };
      expect(redact(await organizationProvider.diff!(id, outs!, renamed))).toEqual(
        redact({ changes: true, replaces: [] }),
      );
      await organizationProvider.update!(id, outs!, renamed);
      const afterUpdate = await admin("GET", `/api/v2/orgs/${id}`);
      expect(redact(afterUpdate)).toMatchObject(redact({ status: 200, body: { id, name: "org-lifecycle-renamed" } }));
      expect((afterUpdate.body as { description?: string }).description ?? "").toBe("");

      expect((await admin("PATCH", `/api/v2/orgs/${id}`, { description: "edited by hand" })).status).toBe(200);
      expect(redact((await organizationProvider.read!(id, renamed)).props)).toMatchObject(
        redact({ name: "org-lifecycle-renamed", description: "edited by hand" }),
      );

      await organizationProvider.delete!(id, renamed);
      expect((await admin("GET", `/api/v2/orgs/${id}`)).status).toBe(404);
      await organizationProvider.delete!(id, renamed);
      expect(redact(await organizationProvider.read!(id, renamed))).toEqual(redact({}));
    });

    it("adopts an organisation that already exists by name, with its buckets, instead of failing", async () => {
      const { body } = await admin("POST", "/api/v2/orgs", { name: "org-kept" });
      const keptId = (body as { id: string }).id;
      const kept = await admin("POST", "/api/v2/buckets", { orgID: keptId, name: "kept-bucket", retentionRules: [] });
      expect(kept.status).toBe(201);
      const inputs: OrganizationInputs = { ...base(), name: "org-kept", description: "adopted" };
      const { id, outs } = await organizationProvider.create(inputs);
      expect(id).toBe(keptId);
      expect(redact(outs)).toEqual(redact(inputs));
      expect(redact(await admin("GET", `/api/v2/orgs/${id}`))).toMatchObject(
        redact({ status: 200, body: { name: "org-kept", description: "adopted" } }),
      );
      expect((await admin("GET", `/api/v2/buckets/${(kept.body as { id: string }).id}`)).status).toBe(200);
      expect(
        redact(await organizationProvider.diff!(id, (await organizationProvider.read!(id, outs)).props!, inputs)),
      ).toEqual(redact({ changes: false, replaces: [] }));
    });
  });

  describe("Bucket", () => {
    it("creates, reads, updates every in-place property, sees out-of-band changes, deletes, and deletes again", async () => {
      const orgId = server().orgId;
      const inputs: BucketInputs = {
        ...base(),
        orgId,
        name: "bucket-lifecycle",
        retentionSeconds: 30 * DAY,
        shardGroupDurationSeconds: DAY,
        description: "raw",
      };
      const { id, outs } = await bucketProvider.create(inputs);
      expect(redact(outs)).toEqual(redact(inputs));
      expect(redact(await admin("GET", `/api/v2/buckets/${id}`))).toMatchObject(
        redact({
          status: 200,
          body: {
            orgID: orgId,
            name: "bucket-lifecycle",
            description: "raw",
            retentionRules: [{ everySeconds: 30 * DAY, shardGroupDurationSeconds: DAY }],
          },
        }),
      );
      const read = await bucketProvider.read!(id, outs);
      expect(redact(read)).toEqual(redact({ id, props: outs, inputs: outs }));
      expect(redact(await bucketProvider.diff!(id, read.props!, inputs))).toEqual(
        redact({ changes: false, replaces: [] }),
      );

      const changed: BucketInputs = {
        ...inputs,
        name: "bucket-lifecycle-2",
        retentionSeconds: 90 * DAY,
        shardGroupDurationSeconds: 7 * DAY,
        description: undefined,
      };
      expect(redact(await bucketProvider.diff!(id, outs!, changed))).toEqual(redact({ changes: true, replaces: [] }));
      const updated = await bucketProvider.update!(id, outs!, changed);
      expect(redact(updated.outs)).toEqual(redact(changed));
      const afterUpdate = await admin("GET", `/api/v2/buckets/${id}`);
      expect(redact(afterUpdate)).toMatchObject(
        redact({
          status: 200,
          body: {
            id,
            name: "bucket-lifecycle-2",
            retentionRules: [{ everySeconds: 90 * DAY, shardGroupDurationSeconds: 7 * DAY }],
          },
        }),
      );
      expect((afterUpdate.body as { description?: string }).description ?? "").toBe("");

      // Drift: retention changed with the HTTP API, behind Pulumi's back.
      expect(
        (
          await admin("PATCH", `/api/v2/buckets/${id}`, {
            retentionRules: [{ type: "expire", everySeconds: 10 * DAY, shardGroupDurationSeconds: DAY }],
          })
        ).status,
      ).toBe(200);
      const drifted = await bucketProvider.read!(id, updated.outs);
      expect(redact(drifted.props)).toMatchObject(
        redact({ retentionSeconds: 10 * DAY, shardGroupDurationSeconds: DAY, name: "bucket-lifecycle-2" }),
      );
      expect(redact(drifted.inputs)).toMatchObject(redact({ retentionSeconds: 10 * DAY }));
      expect(redact(await bucketProvider.diff!(id, drifted.props!, changed))).toEqual(
        redact({ changes: true, replaces: [] }),
      );

      await bucketProvider.delete!(id, changed as BucketOutputs);
      expect((await admin("GET", `/api/v2/buckets/${id}`)).status).toBe(404);
      await bucketProvider.delete!(id, changed as BucketOutputs);
      expect(redact(await bucketProvider.read!(id, changed as BucketOutputs))).toEqual(redact({}));
    });

    it("keeps data forever with retention 0, and lets the server choose the shard-group duration when not given", async () => {
      const inputs: BucketInputs = { ...base(), orgId: server().orgId, name: "bucket-forever", retentionSeconds: 0 };
      const { id, outs } = await bucketProvider.create(inputs);
      expect(outs!.shardGroupDurationSeconds).toBeGreaterThan(0);
      expect(redact((await bucketProvider.read!(id, outs)).props)).toMatchObject(redact({ retentionSeconds: 0 }));
      expect(redact(await bucketProvider.diff!(id, outs!, inputs))).toEqual(redact({ changes: false, replaces: [] }));

      const finite = await bucketProvider.update!(id, outs!, { ...inputs, retentionSeconds: 2 * DAY });
      expect(redact((await bucketProvider.read!(id, finite.outs)).props)).toMatchObject(
        redact({ retentionSeconds: 2 * DAY }),
      );
      await bucketProvider.update!(id, finite.outs!, inputs);
      expect(redact((await bucketProvider.read!(id, finite.outs)).props)).toMatchObject(
        redact({ retentionSeconds: 0 }),
      );
    });

    it("replaces a bucket that moves to another organisation", async () => {
      const inputs: BucketInputs = {
        ...base(),
        orgId: server().orgId,
        name: "bucket-moving",
        retentionSeconds: 7 * DAY,
      };
      const old = await bucketProvider.create(inputs);
      const moved: BucketInputs = { ...inputs, orgId: await newOrg("org-bucket-target") };
      expect(redact(await bucketProvider.diff!(old.id, old.outs!, moved))).toEqual(
        redact({ changes: true, replaces: ["orgId"] }),
      );
      // What the engine does for a replacement: create the new one, then delete the old one.
      const replacement = await bucketProvider.create(moved);
      await bucketProvider.delete!(old.id, old.outs!);
      expect(replacement.id).not.toBe(old.id);
      expect(redact(await admin("GET", `/api/v2/buckets/${replacement.id}`))).toMatchObject(
        redact({ status: 200, body: { orgID: moved.orgId, name: "bucket-moving" } }),
      );
      expect((await admin("GET", `/api/v2/buckets/${old.id}`)).status).toBe(404);
    });

    const writePoints = (bucketId: string, lines: string) =>
      admin("POST", `/api/v2/write?orgID=${server().orgId}&bucket=${bucketId}&precision=s`, lines);
    const countPoints = async (bucket: string) => {
      const answer = await call(server().url, server().token, "POST", `/api/v2/query?orgID=${server().orgId}`, {
        query: `from(bucket: "${bucket}") |> range(start: 0) |> group() |> count() |> yield(name: "n")`,
        type: "flux",
      });
      expect(answer.status).toBe(200);
      const rows = String(answer.body)
        .trim()
        .split(/\r?\n/)
        .filter((line) => line.startsWith(",n,"));
      return rows.length === 0 ? 0 : Number(rows[0]!.split(",").pop());
    };

    it("adopts a bucket that already exists by name, with its points, and makes its settings the declared ones", async () => {
      const orgId = server().orgId;
      const made = await admin("POST", "/api/v2/buckets", {
        orgID: orgId,
        name: "bucket-kept",
        retentionRules: [{ type: "expire", everySeconds: 10 * DAY }],
      });
      const keptId = (made.body as { id: string }).id;
      const now = Math.floor(Date.now() / 1000);
      expect((await writePoints(keptId, [1, 2, 3].map((i) => `m v=${i} ${now - i}`).join("\n"))).status).toBe(204);

      const inputs: BucketInputs = {
        ...base(),
        orgId,
        name: "bucket-kept",
        retentionSeconds: 30 * DAY,
        shardGroupDurationSeconds: 2 * DAY,
        description: "adopted",
      };
      const { id, outs } = await bucketProvider.create(inputs);
      expect(id).toBe(keptId);
      expect(redact(outs)).toEqual(redact(inputs));
      expect(await countPoints("bucket-kept")).toBe(3);
      expect(redact(await admin("GET", `/api/v2/buckets/${id}`))).toMatchObject(
        redact({
          status: 200,
          body: {
            name: "bucket-kept",
            description: "adopted",
            retentionRules: [{ everySeconds: 30 * DAY, shardGroupDurationSeconds: 2 * DAY }],
          },
        }),
      );
      const read = await bucketProvider.read!(id, outs);
      expect(redact(await bucketProvider.diff!(id, read.props!, inputs))).toEqual(
        redact({ changes: false, replaces: [] }),
      );
    });

    it("keeps the server's shard-group duration on an update that declares none", async () => {
      const inputs: BucketInputs = {
        ...base(),
        orgId: server().orgId,
        name: "bucket-shard-kept",
        retentionSeconds: 30 * DAY,
        shardGroupDurationSeconds: 2 * DAY,
      };
      const { id, outs } = await bucketProvider.create(inputs);
      // The declaration drops the shard group and changes the retention: the server's 2 d stays (a 0
      // would have made the server derive 1 d from 60 d of retention).
      const unset: BucketInputs = { ...inputs, retentionSeconds: 60 * DAY, shardGroupDurationSeconds: undefined };
      expect(redact(await bucketProvider.diff!(id, outs!, unset))).toEqual(redact({ changes: true, replaces: [] }));
      const updated = await bucketProvider.update!(id, outs!, unset);
      expect(updated.outs!.shardGroupDurationSeconds).toBe(2 * DAY);
      expect(redact(await admin("GET", `/api/v2/buckets/${id}`))).toMatchObject(
        redact({ body: { retentionRules: [{ everySeconds: 60 * DAY, shardGroupDurationSeconds: 2 * DAY }] } }),
      );
      // Nothing more to do: the server's duration is what an unset declaration means.
      expect(
        redact(await bucketProvider.diff!(id, (await bucketProvider.read!(id, updated.outs)).props!, unset)),
      ).toEqual(redact({ changes: false, replaces: [] }));

      // A set by hand on the server is kept through the next update as well.
      expect(
        (
          await admin("PATCH", `/api/v2/buckets/${id}`, {
            retentionRules: [{ type: "expire", everySeconds: 60 * DAY, shardGroupDurationSeconds: 3 * DAY }],
          })
        ).status,
      ).toBe(200);
      await bucketProvider.update!(id, updated.outs!, { ...unset, description: "touched" });
      expect(redact(await admin("GET", `/api/v2/buckets/${id}`))).toMatchObject(
        redact({ body: { description: "touched", retentionRules: [{ shardGroupDurationSeconds: 3 * DAY }] } }),
      );
    });

    it("lets the server choose a shard-group duration that fits when an undeclared one exceeds a shorter new retention", async () => {
      const inputs: BucketInputs = {
        ...base(),
        orgId: server().orgId,
        name: "bucket-shard-shrunk",
        retentionSeconds: 30 * DAY,
        shardGroupDurationSeconds: 7 * DAY,
      };
      const { id, outs } = await bucketProvider.create(inputs);
      const updated = await bucketProvider.update!(id, outs!, {
        ...inputs,
        retentionSeconds: 3 * DAY,
        shardGroupDurationSeconds: undefined,
      });
      expect(
        (
          await bucketProvider.create({
            ...inputs,
            name: "bucket-shard-fresh",
            retentionSeconds: 3 * DAY,
            shardGroupDurationSeconds: undefined,
          })
        ).outs!.shardGroupDurationSeconds,
      ).toBe(DAY);
      // What the server gives a new bucket of 3 d: 1 d. A PATCH with 0 would have stored 0.
      expect(updated.outs!.shardGroupDurationSeconds).toBe(DAY);
      expect(redact(await admin("GET", `/api/v2/buckets/${id}`))).toMatchObject(
        redact({ body: { retentionRules: [{ everySeconds: 3 * DAY, shardGroupDurationSeconds: DAY }] } }),
      );
    });

    it("reports a declared shard-group duration changed on the server as drift, and repairs it", async () => {
      const inputs: BucketInputs = {
        ...base(),
        orgId: server().orgId,
        name: "bucket-shard-drift",
        retentionSeconds: 30 * DAY,
        shardGroupDurationSeconds: DAY,
      };
      const { id, outs } = await bucketProvider.create(inputs);
      expect(
        (
          await admin("PATCH", `/api/v2/buckets/${id}`, {
            retentionRules: [{ type: "expire", everySeconds: 30 * DAY, shardGroupDurationSeconds: 2 * DAY }],
          })
        ).status,
      ).toBe(200);
      const drifted = await bucketProvider.read!(id, outs);
      expect(redact(drifted.props)).toMatchObject(
        redact({ retentionSeconds: 30 * DAY, shardGroupDurationSeconds: 2 * DAY }),
      );
      expect(redact(drifted.inputs)).toMatchObject(redact({ shardGroupDurationSeconds: 2 * DAY }));
      expect(redact(await bucketProvider.diff!(id, drifted.props!, inputs))).toEqual(
        redact({ changes: true, replaces: [] }),
      );
      await bucketProvider.update!(id, drifted.props!, inputs);
      expect(redact(await admin("GET", `/api/v2/buckets/${id}`))).toMatchObject(
        redact({ body: { retentionRules: [{ shardGroupDurationSeconds: DAY }] } }),
      );
    });

    it("fails create with the server's reason for a retention it rejects", async () => {
      await expect(
        bucketProvider
          .create({ ...base(), orgId: server().orgId, name: "bucket-bad", retentionSeconds: 60 })
          .then(redact),
      ).rejects.toThrow(/retention/i);
    });
  });

  describe("Task", () => {
    const flux =
      'from(bucket: "onboarded")\n  |> range(start: -task.every)\n  |> filter(fn: (r) => r._field == "v")\n  |> to(bucket: "onboarded")';

    it("creates, reads back its own inputs, updates in place, sees out-of-band changes, deletes, and deletes again", async () => {
      const inputs: TaskInputs = {
        ...base(),
        orgId: server().orgId,
        name: "task-lifecycle",
        flux,
        every: "1h",
        offset: "5m",
        status: "active",
        description: "hourly",
      };
      const { id, outs } = await taskProvider.create(inputs);
      expect(redact(outs)).toEqual(redact(inputs));
      expect(redact(await admin("GET", `/api/v2/tasks/${id}`))).toMatchObject(
        redact({
          status: 200,
          body: {
            orgID: server().orgId,
            name: "task-lifecycle",
            every: "1h",
            offset: "5m",
            status: "active",
            description: "hourly",
          },
        }),
      );
      const read = await taskProvider.read!(id, outs);
      expect(redact(read)).toEqual(redact({ id, props: inputs, inputs }));

      const changed: TaskInputs = {
        ...inputs,
        name: "task-lifecycle-2",
        flux: flux.replace("-task.every", "-2h"),
        every: undefined,
        cron: "0 3 * * *",
        offset: "30m",
        status: "inactive",
        description: undefined,
      };
      expect(redact(await taskProvider.diff!(id, outs!, changed))).toEqual(redact({ changes: true, replaces: [] }));
      await taskProvider.update!(id, outs!, changed);
      const afterUpdate = await admin("GET", `/api/v2/tasks/${id}`);
      expect(redact(afterUpdate)).toMatchObject(
        redact({
          status: 200,
          body: { id, name: "task-lifecycle-2", cron: "0 3 * * *", offset: "30m", status: "inactive" },
        }),
      );
      expect((afterUpdate.body as { every?: string }).every ?? "").toBe("");
      expect(redact(await taskProvider.read!(id, changed))).toEqual(redact({ id, props: changed, inputs: changed }));

      expect(
        (await admin("PATCH", `/api/v2/tasks/${id}`, { status: "active", description: "edited by hand" })).status,
      ).toBe(200);
      const drifted = await taskProvider.read!(id, changed);
      expect(redact(drifted.props)).toMatchObject(redact({ status: "active", description: "edited by hand" }));
      expect(redact(await taskProvider.diff!(id, drifted.props!, changed))).toEqual(
        redact({ changes: true, replaces: [] }),
      );

      await taskProvider.delete!(id, changed);
      expect((await admin("GET", `/api/v2/tasks/${id}`)).status).toBe(404);
      await taskProvider.delete!(id, changed);
      expect(redact(await taskProvider.read!(id, changed))).toEqual(redact({}));
    });

    it("replaces a task that moves to another organisation", async () => {
      const inputs: TaskInputs = {
        ...base(),
        orgId: server().orgId,
        name: "task-moving",
        flux,
        every: "1440m",
        offset: "90s",
        status: "inactive",
      };
      const old = await taskProvider.create(inputs);
      // However the server spells the durations, reading back gives no drift.
      expect(redact((await taskProvider.read!(old.id, old.outs)).props)).toEqual(redact(inputs));
      const moved: TaskInputs = { ...inputs, orgId: await newOrg("org-task-target") };
      expect(redact(await taskProvider.diff!(old.id, old.outs!, moved))).toEqual(
        redact({ changes: true, replaces: ["orgId"] }),
      );
      const replacement = await taskProvider.create(moved);
      await taskProvider.delete!(old.id, old.outs!);
      expect(redact(await admin("GET", `/api/v2/tasks/${replacement.id}`))).toMatchObject(
        redact({ status: 200, body: { orgID: moved.orgId, name: "task-moving" } }),
      );
      expect((await admin("GET", `/api/v2/tasks/${old.id}`)).status).toBe(404);
    });

    it("puts the task options after the imports, where the server accepts them, and reads the body back unchanged", async () => {
      const withImports = `import "date"\nimport "types"\n\n${flux.replace("-task.every", "date.truncate(t: now(), unit: 1h)")}`;
      const inputs: TaskInputs = {
        ...base(),
        orgId: server().orgId,
        name: "task-imports",
        flux: withImports,
        every: "1h",
        status: "inactive",
      };
      const { id, outs } = await taskProvider.create(inputs);
      expect(redact(await taskProvider.read!(id, outs))).toEqual(redact({ id, props: inputs, inputs }));
      await taskProvider.delete!(id, inputs);
    });

    it("fails create with the compiler's reason for Flux the server rejects", async () => {
      const bad: TaskInputs = {
        ...base(),
        orgId: server().orgId,
        name: "task-bad",
        flux: "from(bucket: ",
        every: "1h",
        status: "active",
      };
      await expect(taskProvider.create(bad).then(redact)).rejects.toThrow(/error|expected/i);
    });
  });

  describe("Authorization", () => {
    async function bucketPair(prefix: string) {
      const make = async (name: string) =>
        (await bucketProvider.create({ ...base(), orgId: server().orgId, name, retentionSeconds: 0 })).id;
      return { mine: await make(`${prefix}-mine`), other: await make(`${prefix}-other`) };
    }
    const write = (token: string, bucketId: string) =>
      call(
        server().url,
        token,
        "POST",
        `/api/v2/write?orgID=${server().orgId}&bucket=${bucketId}&precision=s`,
        `m v=1 ${Math.floor(Date.now() / 1000)}`,
        "text/plain",
      );
    const queryByName = (token: string, bucket: string) =>
      call(server().url, token, "POST", `/api/v2/query?orgID=${server().orgId}`, {
        query: `from(bucket: "${bucket}") |> range(start: -1h)`,
        type: "flux",
      });
    const queryById = (token: string, bucketId: string) =>
      call(server().url, token, "POST", `/api/v2/query?orgID=${server().orgId}`, {
        query: `from(bucketID: "${bucketId}") |> range(start: -1h)`,
        type: "flux",
      });
    const everything = { start: "1970-01-01T00:00:00Z", stop: "2100-01-01T00:00:00Z" };
    const permission = (action: "read" | "write", id: string): Permission => ({
      action,
      resource: { type: "buckets", id, orgId: server().orgId },
    });

    it("a writer token writes to its bucket and is refused writing elsewhere, reading, and deleting elsewhere", async () => {
      const buckets = await bucketPair("auth-writer");
      const inputs: AuthorizationInputs = {
        ...base(),
        orgId: server().orgId,
        description: "writer",
        permissions: [permission("write", buckets.mine)],
      };
      const { outs } = await authorizationProvider.create(inputs);
      const token = outs!.token;
      expect(token.length).toBeGreaterThanOrEqual(20);

      expect((await write(token, buckets.mine)).status).toBe(204);
      expect((await write(token, buckets.other)).status).toBe(403);
      // Reading: the bucket is invisible to a Flux query by name (404) and its metadata is refused (401).
      expect(await queryByName(token, "auth-writer-mine")).toMatchObject({
        status: 404,
        body: { message: expect.stringContaining("could not find bucket") },
      });
      expect((await call(server().url, token, "GET", `/api/v2/buckets/${buckets.mine}`)).status).toBe(401);
      expect((await call(server().url, token, "DELETE", `/api/v2/buckets/${buckets.other}`)).status).toBe(401);
      expect(
        (
          await call(
            server().url,
            token,
            "POST",
            `/api/v2/delete?orgID=${server().orgId}&bucketID=${buckets.other}`,
            everything,
          )
        ).status,
      ).toBe(403);
      expect(
        (
          await call(server().url, token, "POST", `/api/v2/buckets`, {
            orgID: server().orgId,
            name: "sneaky",
            retentionRules: [],
          })
        ).status,
      ).toBe(401);
      expect((await admin("GET", `/api/v2/buckets/${buckets.other}`)).status).toBe(200);
    });

    // Not least privilege, but InfluxDB's model: deleting points and deleting the bucket both need only
    // the write permission on it. Pinned here so a change of that shows up.
    it("a writer token may delete data in, and delete, its own bucket: InfluxDB ties both to the write permission", async () => {
      const buckets = await bucketPair("auth-writer-delete");
      const { outs } = await authorizationProvider.create({
        ...base(),
        orgId: server().orgId,
        description: "writer",
        permissions: [permission("write", buckets.mine)],
      });
      expect(
        (
          await call(
            server().url,
            outs!.token,
            "POST",
            `/api/v2/delete?orgID=${server().orgId}&bucketID=${buckets.mine}`,
            everything,
          )
        ).status,
      ).toBe(204);
      expect((await call(server().url, outs!.token, "DELETE", `/api/v2/buckets/${buckets.mine}`)).status).toBe(204);
    });

    // influxd 2.7.12 answers a Flux `from(bucketID: ...)` with the data of any bucket of the org,
    // whatever the token may read: a bucket name goes through the permission-filtered lookup, an id
    // is only decoded (LookupBucketID in query/stdlib/influxdata/influxdb/operators.go). Expected to
    // fail until the server enforces the read permission there; reported, not worked around.
    it.fails("a token without read permission cannot read a bucket through from(bucketID:)", async () => {
      const buckets = await bucketPair("auth-bucketid");
      expect((await write(server().token, buckets.other)).status).toBe(204);
      const { outs } = await authorizationProvider.create({
        ...base(),
        orgId: server().orgId,
        description: "writer",
        permissions: [permission("write", buckets.mine)],
      });
      const answer = await queryById(outs!.token, buckets.other);
      expect(String(answer.body)).not.toContain("_value");
    });

    // The same gap reaches across organisations: the id alone selects the bucket.
    it.fails("a token cannot read another organisation's bucket through from(bucketID:)", async () => {
      const otherOrg = await newOrg("org-hidden");
      const hidden = (await bucketProvider.create({ ...base(), orgId: otherOrg, name: "hidden", retentionSeconds: 0 }))
        .id;
      expect(
        (
          await call(
            server().url,
            server().token,
            "POST",
            `/api/v2/write?orgID=${otherOrg}&bucket=${hidden}&precision=s`,
            `m v=1 ${Math.floor(Date.now() / 1000)}`,
            "text/plain",
          )
        ).status,
      ).toBe(204);
      const buckets = await bucketPair("auth-org");
      const { outs } = await authorizationProvider.create({
        ...base(),
        orgId: server().orgId,
        description: "reader",
        permissions: [permission("read", buckets.mine)],
      });
      expect(String((await queryById(outs!.token, hidden)).body)).not.toContain("_value");
    });

    it("a reader token reads and cannot write", async () => {
      const buckets = await bucketPair("auth-reader");
      expect((await write(server().token, buckets.mine)).status).toBe(204);
      const { outs } = await authorizationProvider.create({
        ...base(),
        orgId: server().orgId,
        description: "reader",
        permissions: [permission("read", buckets.mine)],
      });
      const token = outs!.token;
      const answer = await queryByName(token, "auth-reader-mine");
      expect(answer.status).toBe(200);
      expect(String(answer.body)).toContain("_value");
      expect((await write(token, buckets.mine)).status).toBe(403);
      expect((await write(token, buckets.other)).status).toBe(403);
      expect((await queryByName(token, "auth-reader-other")).status).toBe(404);
    });

    it("updates description and status in place, keeps the token through reads, replaces on new permissions, deletes twice", async () => {
      const buckets = await bucketPair("auth-lifecycle");
      const inputs: AuthorizationInputs = {
        ...base(),
        orgId: server().orgId,
        description: "lifecycle",
        permissions: [permission("write", buckets.mine)],
      };
      const { id, outs } = await authorizationProvider.create(inputs);
      const stored = outs as AuthorizationOutputs;

      const read = await authorizationProvider.read!(id, stored);
      expect(redact(read.props)).toEqual(redact({ ...inputs, status: "active", token: stored.token }));
      expect(read.props!.token === stored.token).toBe(true);
      expect(read.inputs).not.toHaveProperty("token");
      expect(redact(await authorizationProvider.diff!(id, read.props!, inputs))).toEqual(
        redact({ changes: false, replaces: [] }),
      );

      const inactive: AuthorizationInputs = { ...inputs, description: "lifecycle (paused)", status: "inactive" };
      expect(redact(await authorizationProvider.diff!(id, stored, inactive))).toEqual(
        redact({ changes: true, replaces: [] }),
      );
      const paused = await authorizationProvider.update!(id, stored, inactive);
      expect(redact(paused.outs)).toEqual(redact({ ...inactive, token: stored.token }));
      expect(paused.outs!.token === stored.token).toBe(true);
      expect((await write(stored.token, buckets.mine)).status).toBe(403);
      expect(redact(await admin("GET", `/api/v2/authorizations/${id}`))).toMatchObject(
        redact({ status: 200, body: { status: "inactive", description: "lifecycle (paused)" } }),
      );

      expect(
        (await admin("PATCH", `/api/v2/authorizations/${id}`, { status: "active", description: "edited by hand" }))
          .status,
      ).toBe(200);
      const drifted = await authorizationProvider.read!(id, paused.outs);
      expect(redact(drifted.props)).toMatchObject(redact({ status: "active", description: "edited by hand" }));
      expect(drifted.props!.token === stored.token).toBe(true);
      expect((await write(stored.token, buckets.mine)).status).toBe(204);

      const widened: AuthorizationInputs = {
        ...inputs,
        permissions: [permission("write", buckets.mine), permission("write", buckets.other)],
      };
      expect(redact(await authorizationProvider.diff!(id, stored, widened))).toEqual(
        redact({ changes: true, replaces: ["permissions"] }),
      );
      const replacement = await authorizationProvider.create(widened);
      await authorizationProvider.delete!(id, stored);
      expect(replacement.outs!.token === stored.token).toBe(false);
      expect((await write(replacement.outs!.token, buckets.other)).status).toBe(204);
      expect((await write(stored.token, buckets.mine)).status).toBe(401);
      expect((await admin("GET", `/api/v2/authorizations/${id}`)).status).toBe(404);

      await authorizationProvider.delete!(id, stored);
      expect(redact(await authorizationProvider.read!(id, stored))).toEqual(redact({}));
    });
  });

  describe("DbrpMapping", () => {
    it("adopts the same mapping when it already exists, and still refuses one that maps the database to another bucket", async () => {
      const orgId = server().orgId;
      const bucketId = (await bucketProvider.create({ ...base(), orgId, name: "dbrp-kept", retentionSeconds: 0 })).id;
      const inputs: DbrpMappingInputs = {
        ...base(),
        orgId,
        bucketId,
        database: "dbrp_kept",
        retentionPolicy: "autogen",
        isDefault: true,
      };
      const first = await dbrpProvider.create(inputs);
      // A stack that lost its state creates it again.
      const again = await dbrpProvider.create(inputs);
      expect(again.id).toBe(first.id);
      expect(redact((await dbrpProvider.read!(again.id, again.outs)).props)).toEqual(redact(inputs));
      const otherBucketId = (
        await bucketProvider.create({ ...base(), orgId, name: "dbrp-kept-other", retentionSeconds: 0 })
      ).id;
      await expect(dbrpProvider.create({ ...inputs, bucketId: otherBucketId }).then(redact)).rejects.toThrow(
        "another DBRP mapping with same orgID, db, and rp exists",
      );
    });

    it("creates, reads, updates in place, sees out-of-band changes, replaces, deletes, and deletes again", async () => {
      const orgId = server().orgId;
      const bucketId = (await bucketProvider.create({ ...base(), orgId, name: "dbrp-events", retentionSeconds: 0 })).id;
      const inputs: DbrpMappingInputs = {
        ...base(),
        orgId,
        bucketId,
        database: "dbrp_events",
        retentionPolicy: "autogen",
        isDefault: true,
      };
      const { id, outs } = await dbrpProvider.create(inputs);
      expect(redact(outs)).toEqual(redact(inputs));
      expect(redact((await dbrpProvider.read!(id, outs)).props)).toEqual(redact(inputs));

      // InfluxQL through the v1 compatibility API finds the bucket by the mapping.
      expect(
        (
          await admin(
            "POST",
            `/api/v2/write?orgID=${orgId}&bucket=${bucketId}&precision=s`,
            `cpu v=1 ${Math.floor(Date.now() / 1000)}`,
          )
        ).status,
      ).toBe(204);
      const influxql = await call(
        server().url,
        server().token,
        "GET",
        `/query?db=dbrp_events&q=${encodeURIComponent("SELECT count(v) FROM cpu")}`,
      );
      expect(influxql.status).toBe(200);
      expect(JSON.stringify(influxql.body)).toContain("count");

      const renamed: DbrpMappingInputs = { ...inputs, retentionPolicy: "forever" };
      expect(redact(await dbrpProvider.diff!(id, outs!, renamed))).toEqual(redact({ changes: true, replaces: [] }));
      await dbrpProvider.update!(id, outs!, renamed);
      expect(redact((await dbrpProvider.read!(id, renamed)).props)).toEqual(redact(renamed));

      // A second mapping made the default takes the flag from the first: read sees that change.
      const otherBucketId = (
        await bucketProvider.create({ ...base(), orgId, name: "dbrp-events-2", retentionSeconds: 0 })
      ).id;
      const second = await dbrpProvider.create({
        ...inputs,
        bucketId: otherBucketId,
        retentionPolicy: "second",
        isDefault: true,
      });
      expect(redact((await dbrpProvider.read!(id, renamed)).props)).toMatchObject(redact({ isDefault: false }));
      expect(redact(await dbrpProvider.diff!(id, { ...renamed, isDefault: false }, renamed))).toEqual(
        redact({ changes: true, replaces: [] }),
      );
      await dbrpProvider.update!(id, { ...renamed, isDefault: false }, renamed);
      expect(redact((await dbrpProvider.read!(id, renamed)).props)).toMatchObject(redact({ isDefault: true }));
      expect(redact((await dbrpProvider.read!(second.id, second.outs)).props)).toMatchObject(
        redact({ isDefault: false }),
      );

      // Out of band, with the HTTP API.
      expect((await admin("PATCH", `/api/v2/dbrps/${id}?orgID=${orgId}`, { retention_policy: "edited" })).status).toBe(
        200,
      );
      expect(redact((await dbrpProvider.read!(id, renamed)).props)).toMatchObject(
        redact({ retentionPolicy: "edited" }),
      );
      await dbrpProvider.update!(id, { ...renamed, retentionPolicy: "edited" }, renamed);

      const thirdBucketId = (
        await bucketProvider.create({ ...base(), orgId, name: "dbrp-events-3", retentionSeconds: 0 })
      ).id;
      const moved: DbrpMappingInputs = { ...renamed, bucketId: thirdBucketId };
      expect(redact(await dbrpProvider.diff!(id, renamed, moved))).toEqual(
        redact({ changes: true, replaces: ["bucketId"], deleteBeforeReplace: true }),
      );
      // The server holds one mapping per database and retention policy, hence delete before create.
      await expect(dbrpProvider.create(moved).then(redact)).rejects.toThrow(
        "another DBRP mapping with same orgID, db, and rp exists",
      );
      await dbrpProvider.delete!(id, renamed);
      const replacement = await dbrpProvider.create(moved);
      expect(redact((await dbrpProvider.read!(replacement.id, moved)).props)).toEqual(redact(moved));
      expect(redact(await dbrpProvider.read!(id, renamed))).toEqual(redact({}));

      await dbrpProvider.delete!(replacement.id, moved);
      await dbrpProvider.delete!(replacement.id, moved);
      expect(redact(await dbrpProvider.read!(replacement.id, moved))).toEqual(redact({}));
    });
  });

  describe("ServerReady and waitForHealthy", () => {
    it("reports the version of a healthy server on create, read and update", async () => {
      const inputs = { url: server().url, timeoutSeconds: 10 };
      const { id, outs } = await serverReadyProvider.create(inputs);
      expect(id).toBe(server().url);
      expect(outs!.version).toMatch(/^v?2\.7\./);
      expect(redact((await serverReadyProvider.read!(id, outs)).props)).toEqual(redact(outs));
      expect(
        redact((await serverReadyProvider.update!(id, outs!, { ...inputs, trigger: "again" })).outs),
      ).toMatchObject(redact({ version: outs!.version, trigger: "again" }));
      // Nothing exists on the server for it, so deleting, even twice, leaves the server as it was.
      await serverReadyProvider.delete!(id, outs!);
      await serverReadyProvider.delete!(id, outs!);
      expect((await serverReadyProvider.read!(id, outs)).props).toEqual(outs);
    });

    it("fails with the URL and the reason when nothing answers before the deadline", async () => {
      const url = "http://127.0.0.1:9";
      await expect(waitForHealthy(url, 1_000).then(redact)).rejects.toThrow(
        `InfluxDB at ${url} did not become healthy within 1 s`,
      );
    });
  });
});

describe.skipIf(!influxdFound)("Onboarding against a fresh influxd", () => {
  const server = useInfluxd({ onboard: false });

  it("sets up the server once, fails clearly on a second setup, reads, and deletes as a no-op", async () => {
    const inputs = {
      url: server().url,
      username: "admin",
      password: randomSecret(),
      org: "home_assistant",
      bucket: "initial",
      retentionSeconds: 7 * DAY,
      providerVersion: PROVIDER_VERSION,
    };
    const { id, outs } = await onboardingProvider.create(inputs);
    expect(redact(outs)).toMatchObject(redact({ ...inputs, userId: id }));
    const token = outs!.token;
    expect(redact(await call(server().url, token, "GET", `/api/v2/orgs/${outs!.orgId}`))).toMatchObject(
      redact({ status: 200, body: { name: "home_assistant" } }),
    );
    expect(redact(await call(server().url, token, "GET", `/api/v2/buckets/${outs!.bucketId}`))).toMatchObject(
      redact({ status: 200, body: { name: "initial", retentionRules: [{ everySeconds: 7 * DAY }] } }),
    );

    expect(redact(await onboardingProvider.read!(id, outs))).toEqual(redact({ id, props: outs }));
    expect(redact(await onboardingProvider.diff!(id, outs!, { ...inputs, password: randomSecret() }))).toEqual(
      redact({ changes: true, replaces: ["password"] }),
    );
    // A replacement would set up the server again, which the server refuses: the message says why.
    await expect(onboardingProvider.create({ ...inputs, org: "another" }).then(redact)).rejects.toThrow(
      `InfluxDB at ${server().url} is already set up`,
    );

    await onboardingProvider.delete!(id, outs!);
    await onboardingProvider.delete!(id, outs!);
    expect(redact(await call(server().url, token, "GET", `/api/v2/orgs/${outs!.orgId}`))).toMatchObject(
      redact({ status: 200 }),
    );

    // A new stack over the same server (a kept volume): with the operator token it adopts the setup.
    const adopted = await onboardingProvider.create({ ...inputs, password: randomSecret(), token });
    expect(adopted.id).toBe(id);
    expect(redact(adopted.outs)).toMatchObject(redact({ orgId: outs!.orgId, bucketId: outs!.bucketId, userId: id }));
    expect(adopted.outs!.token === token).toBe(true);
    expect(redact(await onboardingProvider.read!(adopted.id, adopted.outs))).toEqual(
      redact({ id, props: adopted.outs }),
    );

    // Without the token, or with a wrong one, it fails saying what to do, and never prints a token.
    await expect(onboardingProvider.create(inputs).then(redact)).rejects.toThrow("server.adminToken");
    const wrong = randomSecret();
    const refused = await onboardingProvider.create({ ...inputs, token: wrong }).then(
      () => "created",
      (error: Error) => error.message,
    );
    expect(refused).toMatch(/does not accept the configured operator token/);
    expect(refused.includes(wrong) || refused.includes(token)).toBe(false);
    await expect(onboardingProvider.create({ ...inputs, org: "not-there", token }).then(redact)).rejects.toThrow(
      "has no organisation named not-there",
    );
  });
});
