// The rules of the ha-influx policy pack as pure functions over resource properties, so unit tests
// can call them without the engine. Each returns the violations it found, as messages.

/** InfluxDB's shortest finite retention. */
export const MIN_RETENTION_SECONDS = 3_600;

/** Type tokens of the dynamic resources the rules look at. */
export const BUCKET_TYPE = "pulumi-nodejs:dynamic/influxdb:Bucket";
export const ONBOARDING_TYPE = "pulumi-nodejs:dynamic/influxdb:Onboarding";
export const AUTHORIZATION_TYPE = "pulumi-nodejs:dynamic/influxdb:Authorization";
export const TASK_TYPE = "pulumi-nodejs:dynamic/influxdb:Task";

/** Resource types an all-access token holds write on; no scoped token needs any of them. */
const ADMIN_TYPES = ["authorizations", "users", "orgs"];

/**
 * A bucket keeps data for a finite time of at least one hour. `retentionSeconds` 0 or absent means
 * "forever" to InfluxDB (the onboarding's initial bucket defaults to it).
 */
export function retentionViolations(label: string, retentionSeconds: unknown): string[] {
  if (retentionSeconds === undefined || retentionSeconds === 0) {
    return [`${label} keeps data forever: set a finite retention of at least ${MIN_RETENTION_SECONDS} s`];
  }
  if (
    typeof retentionSeconds !== "number" ||
    !Number.isFinite(retentionSeconds) ||
    retentionSeconds < MIN_RETENTION_SECONDS
  ) {
    return [
      `${label} has retention ${JSON.stringify(retentionSeconds)} s: it must be at least ${MIN_RETENTION_SECONDS} s`,
    ];
  }
  return [];
}

interface PermissionLike {
  action?: unknown;
  resource?: { type?: unknown; id?: unknown; orgId?: unknown };
}

/**
 * A token holds no all-access permissions and never writes to every resource of a type: each write
 * is bound to a resource id.
 */
export function tokenViolations(label: string, permissions: unknown): string[] {
  if (!Array.isArray(permissions)) return [`${label} has no permission list to check`];
  const perms = permissions as PermissionLike[];
  const unboundWrites = perms.filter(
    (p) => p.action === "write" && (p.resource?.id === undefined || p.resource.id === ""),
  );
  const adminWrites = unboundWrites.filter((p) => ADMIN_TYPES.includes(String(p.resource?.type)));
  if (adminWrites.length > 0) {
    return [
      `${label} is an all-access (operator-like) token: it may write ${adminWrites.map((p) => p.resource?.type).join(", ")}`,
    ];
  }
  return unboundWrites.map((p) => {
    const scope = p.resource?.orgId === undefined ? "on the server" : `in org ${p.resource.orgId}`;
    return `${label} may write to every ${String(p.resource?.type)} ${scope}: bind the permission to a resource id`;
  });
}

/** A bucket as the rollup rule needs it. */
export interface BucketRetention {
  /** Bucket name on the server. */
  name: string;
  /** Retention in seconds, 0 for forever. */
  retentionSeconds: number;
}

/** Source and target bucket of a rollup task's Flux (`from(bucket: ...)` and `to(bucket: ...)`). */
export function rollupBuckets(flux: string): { source: string; target: string } | undefined {
  const source = /from\(bucket:\s*("(?:[^"\\]|\\.)*")/.exec(flux)?.[1];
  const target = /to\(bucket:\s*("(?:[^"\\]|\\.)*")/.exec(flux)?.[1];
  if (source === undefined || target === undefined) return undefined;
  return { source: JSON.parse(source) as string, target: JSON.parse(target) as string };
}

/**
 * Each rollup keeps its data longer than the bucket it summarises; otherwise the summaries vanish no
 * later than the raw data and the tier is pointless.
 */
export function rollupRetentionViolations(
  tasks: { name: string; flux: string }[],
  buckets: BucketRetention[],
): string[] {
  const retention = new Map(buckets.map((b) => [b.name, b.retentionSeconds]));
  const forever = (seconds: number) => (seconds === 0 ? Infinity : seconds);
  const violations: string[] = [];
  for (const task of tasks) {
    const rollup = rollupBuckets(task.flux);
    if (rollup === undefined) continue;
    const source = retention.get(rollup.source);
    const target = retention.get(rollup.target);
    if (source === undefined || target === undefined) continue;
    if (forever(target) <= forever(source)) {
      violations.push(
        `task ${task.name} rolls ${rollup.source} (${source} s) up into ${rollup.target} (${target} s): the rollup must be kept longer than its source`,
      );
    }
  }
  return violations;
}
