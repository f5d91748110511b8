// What the end-to-end tests ask the server directly, to check what `pulumi up` really made.
import { InfluxDB } from "@influxdata/influxdb-client";

export interface BucketState {
  id: string;
  retentionSeconds: number;
  shardGroupDurationSeconds: number;
}

export interface Permission {
  action: "read" | "write";
  resource: { type: string; id?: string; orgID?: string };
}

export interface AuthorizationState {
  id: string;
  token: string;
  description?: string;
  permissions: Permission[];
}

/** A thin client of the InfluxDB v2 API with one token; errors name the request and the answer. */
export class InfluxApi {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { Authorization: `Token ${this.token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async org(name: string): Promise<{ id: string; name: string }> {
    const { orgs } = await this.request<{ orgs: { id: string; name: string }[] }>(
      "GET",
      `/api/v2/orgs?org=${encodeURIComponent(name)}`,
    );
    if (orgs.length !== 1) throw new Error(`organisation ${name}: found ${orgs.length}`);
    return orgs[0]!;
  }

  async orgNames(): Promise<string[]> {
    const { orgs } = await this.request<{ orgs: { name: string }[] }>("GET", "/api/v2/orgs");
    return orgs.map((o) => o.name).sort();
  }

  /** The org's buckets by name, without the system buckets (`_monitoring`, `_tasks`). */
  async buckets(orgId: string): Promise<Record<string, BucketState>> {
    const { buckets } = await this.request<{
      buckets: {
        id: string;
        name: string;
        type: string;
        retentionRules: { everySeconds: number; shardGroupDurationSeconds: number }[];
      }[];
    }>("GET", `/api/v2/buckets?orgID=${orgId}&limit=100`);
    return Object.fromEntries(
      buckets
        .filter((b) => b.type === "user")
        .map((b) => [
          b.name,
          {
            id: b.id,
            retentionSeconds: b.retentionRules[0]?.everySeconds ?? 0,
            shardGroupDurationSeconds: b.retentionRules[0]?.shardGroupDurationSeconds ?? 0,
          },
        ]),
    );
  }

  async patchBucket(id: string, body: unknown): Promise<void> {
    await this.request("PATCH", `/api/v2/buckets/${id}`, body);
  }

  async tasks(
    orgId: string,
  ): Promise<{ id: string; name: string; status: string; every?: string; cron?: string; flux: string }[]> {
    const { tasks } = await this.request<{
      tasks: { id: string; name: string; status: string; every?: string; cron?: string; flux: string }[];
    }>("GET", `/api/v2/tasks?orgID=${orgId}`);
    return tasks;
  }

  async authorizations(orgId?: string): Promise<AuthorizationState[]> {
    const query = orgId ? `?orgID=${orgId}` : "";
    const { authorizations } = await this.request<{ authorizations: AuthorizationState[] }>(
      "GET",
      `/api/v2/authorizations${query}`,
    );
    return authorizations;
  }

  /** Runs a task now as if scheduled for `scheduledFor`, waits for it, and fails with its log unless it succeeded. */
  async runTask(taskId: string, scheduledFor: Date): Promise<void> {
    const run = await this.request<{ id: string }>("POST", `/api/v2/tasks/${taskId}/runs`, {
      scheduledFor: scheduledFor.toISOString(),
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      // A run the scheduler has not picked up yet is not found; wait for it like any other state.
      const state = await this.request<{ status: string }>("GET", `/api/v2/tasks/${taskId}/runs/${run.id}`).catch(
        (error: Error) => {
          if (/: 404 /.test(error.message) && Date.now() < deadline) return { status: "queued" };
          throw error;
        },
      );
      if (state.status === "success") return;
      if (state.status === "failed" || state.status === "canceled") {
        const { events } = await this.request<{ events: { message: string }[] }>(
          "GET",
          `/api/v2/tasks/${taskId}/runs/${run.id}/logs`,
        );
        throw new Error(`task ${taskId} run ${state.status}: ${events.map((e) => e.message).join("; ")}`);
      }
      if (Date.now() > deadline) throw new Error(`task ${taskId} run still ${state.status} after 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async write(bucket: string, lines: string): Promise<void> {
    const res = await fetch(`${this.url}/api/v2/write?org=home_assistant&bucket=${bucket}&precision=ns`, {
      method: "POST",
      headers: { Authorization: `Token ${this.token}`, "Content-Type": "text/plain; charset=utf-8" },
      body: lines,
    });
    if (res.status !== 204) throw new Error(`write to ${bucket}: ${res.status} ${await res.text()}`);
  }

  /** Rows of a Flux query, typed by the CSV annotations (numbers as numbers, times as RFC 3339 text). */
  async query(flux: string): Promise<Record<string, any>[]> {
    return new InfluxDB({ url: this.url, token: this.token }).getQueryApi("home_assistant").collectRows(flux);
  }
}
