import * as pulumi from "@pulumi/pulumi";
import type { BucketRole } from "ha-influx-writer/schema";
import { Bucket, DbrpMapping, type InfluxConnectionArgs, Organization } from "./provider";

const SECONDS_PER_DAY = 86_400;

/** One bucket as the tenancy declares it. */
export interface BucketSpec {
  /** Bucket name in InfluxDB. */
  name: string;
  /** Days of retention (fractions allowed, at least one hour). */
  retentionDays: number;
  /** Days per shard group; unset lets the server choose. */
  shardGroupDays?: number;
  /** Shown in the InfluxDB UI. */
  description?: string;
}

/** Arguments of a {@link Tenancy}. */
export interface TenancyArgs {
  /** Server connection with an operator token. */
  connection: InfluxConnectionArgs;
  /** Organisation name. */
  orgName: pulumi.Input<string>;
  /** Id of an organisation that already exists (created by the onboarding); unset creates one. */
  existingOrgId?: pulumi.Input<string>;
  /** The project's buckets by role. */
  buckets: Record<BucketRole, BucketSpec>;
  /**
   * Leave the organisation and the buckets, points and all, on the server when they leave the stack
   * (`pulumi destroy`, a removed bucket, a replacement); a later stack adopts them by name.
   */
  retainOnDelete: boolean;
}

/** A declared bucket's name and id. */
export interface BucketRef {
  /** Bucket name. */
  name: pulumi.Output<string>;
  /** Bucket id. */
  id: pulumi.Output<string>;
}

/** Whole seconds, as the API wants them. */
export function daysToSeconds(days: number): number {
  return Math.round(days * SECONDS_PER_DAY);
}

/**
 * The organisation and its retention-tiered buckets, each mapped to an InfluxQL database of the same
 * name (retention policy `autogen`), so Grafana's InfluxQL data source can read every tier. An
 * organisation or bucket that already exists by name is adopted with its data.
 */
export class Tenancy extends pulumi.ComponentResource {
  /** Organisation id. */
  public readonly orgId: pulumi.Output<string>;
  /** Organisation name. */
  public readonly orgName: pulumi.Output<string>;
  /** Buckets by role. */
  public readonly buckets: Record<BucketRole, BucketRef>;

  constructor(name: string, args: TenancyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ha-influx:tenancy:Tenancy", name, {}, opts);

    if (args.existingOrgId === undefined) {
      const org = new Organization(
        `${name}-org`,
        { connection: args.connection, name: args.orgName, description: "Home Assistant history (ha-influx)" },
        // Deleting an organisation deletes its buckets.
        { parent: this, retainOnDelete: args.retainOnDelete },
      );
      this.orgId = org.id;
      this.orgName = org.name;
    } else {
      this.orgId = pulumi.output(args.existingOrgId);
      this.orgName = pulumi.output(args.orgName);
    }

    const buckets = {} as Record<BucketRole, BucketRef>;
    for (const [role, spec] of Object.entries(args.buckets) as [BucketRole, BucketSpec][]) {
      const bucket = new Bucket(
        `${name}-${role}`,
        {
          connection: args.connection,
          orgId: this.orgId,
          name: spec.name,
          retentionSeconds: daysToSeconds(spec.retentionDays),
          shardGroupDurationSeconds: spec.shardGroupDays === undefined ? undefined : daysToSeconds(spec.shardGroupDays),
          description: spec.description,
        },
        { parent: this, retainOnDelete: args.retainOnDelete },
      );
      new DbrpMapping(
        `${name}-${role}-dbrp`,
        {
          connection: args.connection,
          orgId: this.orgId,
          bucketId: bucket.id,
          database: bucket.name,
          retentionPolicy: "autogen",
          isDefault: true,
        },
        { parent: this },
      );
      buckets[role] = { name: bucket.name, id: bucket.id };
    }
    this.buckets = buckets;

    this.registerOutputs({ orgId: this.orgId, orgName: this.orgName, buckets: this.buckets });
  }
}
