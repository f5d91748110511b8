import * as pulumi from "@pulumi/pulumi";
import { Authorization, type InfluxConnectionArgs, type Permission } from "./provider";

/** Arguments of a {@link Tokens}. */
export interface TokensArgs {
  /** Server connection with an operator token. */
  connection: InfluxConnectionArgs;
  /** Organisation the tokens belong to. */
  orgId: pulumi.Input<string>;
  /** Ids of the buckets the writer writes (raw, weather, system, sports). */
  writeBucketIds: pulumi.Input<string>[];
  /** Ids of every project bucket, rollups included. */
  projectBucketIds: pulumi.Input<string>[];
  /** Ids of the rollup tasks, whose runs the monitor token reads. */
  rollupTaskIds?: pulumi.Input<string>[];
  /** Create the writer token. */
  writer: boolean;
  /** Create the reader token. */
  reader: boolean;
  /** Create the monitor token. */
  monitor: boolean;
  /** Prefix of each token's description, so tokens of several stacks on one server can be told apart. */
  descriptionPrefix: pulumi.Input<string>;
}

/** Permissions of the writer token: write to each of its buckets by id, nothing else (not even read). */
export function writerPermissions(orgId: string, bucketIds: string[]): Permission[] {
  return bucketIds.map((id) => ({ action: "write", resource: { type: "buckets", id, orgId } }));
}

/** Permissions of the reader token: read each project bucket by id. */
export function readerPermissions(orgId: string, bucketIds: string[]): Permission[] {
  return bucketIds.map((id) => ({ action: "read", resource: { type: "buckets", id, orgId } }));
}

/**
 * Permissions of the storage-monitor token: what it needs to map `/metrics` bucket ids to names and
 * retention and to query their series and points (read each project bucket, the system bucket's
 * stored samples included), to name the organisation (read the org), and to see each rollup task's
 * status, last error and runs (read each task by id: `GET /api/v2/tasks/{id}` and `/runs` check
 * exactly that). Listing buckets or tasks returns exactly those it may read, so no permission over
 * the whole org is needed, and it can neither change nor run a task. (`/metrics` needs no token.)
 */
export function monitorPermissions(orgId: string, bucketIds: string[], taskIds: string[] = []): Permission[] {
  return [
    ...readerPermissions(orgId, bucketIds),
    { action: "read", resource: { type: "orgs", id: orgId } },
    ...taskIds.map((id): Permission => ({ action: "read", resource: { type: "tasks", id, orgId } })),
  ];
}

/** Least-privilege API tokens: none has all-access, none writes to every bucket. */
export class Tokens extends pulumi.ComponentResource {
  /** The writer token (secret), if created. */
  public readonly writerToken?: pulumi.Output<string>;
  /** The reader token (secret), if created. */
  public readonly readerToken?: pulumi.Output<string>;
  /** The monitor token (secret), if created. */
  public readonly monitorToken?: pulumi.Output<string>;

  constructor(name: string, args: TokensArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ha-influx:tokens:Tokens", name, {}, opts);

    const token = (role: string, permissions: pulumi.Input<Permission[]>) =>
      pulumi.secret(
        new Authorization(
          `${name}-${role}`,
          {
            connection: args.connection,
            orgId: args.orgId,
            description: pulumi.interpolate`${args.descriptionPrefix} ${role}`,
            permissions,
          },
          { parent: this },
        ).token,
      );

    const over = (bucketIds: pulumi.Input<string>[], permissions: (orgId: string, ids: string[]) => Permission[]) =>
      pulumi.all([args.orgId, pulumi.all(bucketIds)]).apply(([orgId, ids]) => permissions(orgId, ids));
    if (args.writer) this.writerToken = token("writer", over(args.writeBucketIds, writerPermissions));
    if (args.reader) this.readerToken = token("reader", over(args.projectBucketIds, readerPermissions));
    if (args.monitor) {
      const permissions = pulumi
        .all([args.orgId, pulumi.all(args.projectBucketIds), pulumi.all(args.rollupTaskIds ?? [])])
        .apply(([orgId, bucketIds, taskIds]) => monitorPermissions(orgId, bucketIds, taskIds));
      this.monitorToken = token("monitor", permissions);
    }

    this.registerOutputs({
      writerToken: this.writerToken,
      readerToken: this.readerToken,
      monitorToken: this.monitorToken,
    });
  }
}
