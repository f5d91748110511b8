import * as pulumi from "@pulumi/pulumi";
import {
  type ConnectedInputs,
  defined,
  diffByRules,
  type InfluxConnectionArgs,
  ignoreNotFound,
  influxApis,
  inputChecker,
  unlessGone,
} from "./common";
import { connectedInputs, connectedOptions } from "./resource-options";

/** Arguments of a {@link Bucket}. */
export interface BucketArgs {
  /** Where and how to reach the server. */
  connection: InfluxConnectionArgs;
  /** Id of the organisation that owns the bucket. */
  orgId: pulumi.Input<string>;
  /** Bucket name, unique in the organisation. */
  name: pulumi.Input<string>;
  /** How long points are kept, in seconds: 0 keeps them forever, otherwise at least 3600. */
  retentionSeconds: pulumi.Input<number>;
  /** Time span of one shard group, in seconds; left out, the server derives it from the retention. */
  shardGroupDurationSeconds?: pulumi.Input<number | undefined>;
  /** Free text shown in the InfluxDB UI. */
  description?: pulumi.Input<string | undefined>;
}

/** Bucket inputs as the provider receives them. */
export interface BucketInputs extends ConnectedInputs {
  /** Owning organisation id. */
  orgId: string;
  /** Bucket name. */
  name: string;
  /** Retention in seconds, 0 for forever. */
  retentionSeconds: number;
  /** Shard-group duration in seconds; absent means the server's choice. */
  shardGroupDurationSeconds?: number;
  /** Free text; absent means empty. */
  description?: string;
}

/** Bucket state: the inputs, with the shard-group duration the server actually uses. */
export interface BucketOutputs extends BucketInputs {
  /** Shard-group duration in effect, in seconds. */
  shardGroupDurationSeconds: number;
}

/** InfluxDB's smallest finite retention. */
export const MIN_RETENTION_SECONDS = 3600;

/**
 * Name, retention, shard-group duration and description update in place (PATCH
 * /api/v2/buckets/{id}); a bucket cannot move to another organisation, so `orgId` replaces it.
 */
export const bucketRules = {
  inPlace: ["name", "retentionSeconds", "shardGroupDurationSeconds", "description", "connection", "providerVersion"],
  replace: ["orgId"],
} as const;

/** What InfluxDB holds of a bucket's retention. */
interface ServerRetention {
  retentionRules: { everySeconds: number; shardGroupDurationSeconds?: number }[];
}

/**
 * The shard-group duration InfluxDB gives a new bucket of this retention: 1 h below 2 days, 1 d below
 * 180 days, 7 d from there and for infinite retention.
 */
export function defaultShardGroupSeconds(retentionSeconds: number): number {
  const day = 86_400;
  if (retentionSeconds === 0 || retentionSeconds >= 180 * day) return 7 * day;
  return retentionSeconds >= 2 * day ? day : 3_600;
}

/**
 * The PATCH that makes a bucket what `inputs` declare. Without a declared shard-group duration the
 * server's current one is kept: a PATCH with 0 does not make the server derive one, it stores 0. Only
 * when the current one no longer fits a shorter new retention, which the server would refuse, does
 * the bucket get the duration the server gives a new bucket of that retention.
 */
function bucketPatch(inputs: BucketInputs, current: ServerRetention) {
  const currentShard = current.retentionRules[0]?.shardGroupDurationSeconds ?? 0;
  const fits = currentShard > 0 && (inputs.retentionSeconds === 0 || currentShard <= inputs.retentionSeconds);
  const shard =
    inputs.shardGroupDurationSeconds ?? (fits ? currentShard : defaultShardGroupSeconds(inputs.retentionSeconds));
  return {
    name: inputs.name,
    // An empty description clears it; leaving it out would keep the old text.
    description: inputs.description ?? "",
    retentionRules: [
      { type: "expire" as const, everySeconds: inputs.retentionSeconds, shardGroupDurationSeconds: shard },
    ],
  };
}

function bucketOutputs(inputs: BucketInputs, bucket: ServerRetention): BucketOutputs {
  return defined({ ...inputs, shardGroupDurationSeconds: bucket.retentionRules[0]?.shardGroupDurationSeconds ?? 0 });
}

/** CRUD for an InfluxDB bucket; the resource id is the bucket id. */
export const bucketProvider: pulumi.dynamic.ResourceProvider<BucketInputs, BucketOutputs> = {
  async check(_olds, news) {
    const checker = inputChecker(news);
    checker.connection();
    checker.string("orgId");
    checker.string("name");
    checker.integer("retentionSeconds", { min: 0 });
    const retention = news.retentionSeconds;
    if (typeof retention === "number" && retention > 0 && retention < MIN_RETENTION_SECONDS) {
      checker.fail(
        "retentionSeconds",
        `retentionSeconds must be 0 (forever) or at least ${MIN_RETENTION_SECONDS} (InfluxDB rejects shorter), got ${retention}`,
      );
    }
    checker.integer("shardGroupDurationSeconds", { min: 1, optional: true });
    const shard = news.shardGroupDurationSeconds;
    if (typeof retention === "number" && retention > 0 && typeof shard === "number" && shard > retention) {
      checker.fail(
        "shardGroupDurationSeconds",
        `shardGroupDurationSeconds (${shard}) must not exceed retentionSeconds (${retention})`,
      );
    }
    checker.string("description", { optional: true });
    return checker.result();
  },

  async diff(_id, olds, news) {
    // Without a requested shard-group duration the server picks one; that choice is not drift.
    const wanted = {
      ...news,
      description: news.description || undefined,
      shardGroupDurationSeconds: news.shardGroupDurationSeconds ?? olds.shardGroupDurationSeconds,
    };
    return diffByRules({ ...olds, description: olds.description || undefined }, wanted, bucketRules);
  },

  async create(inputs) {
    const { buckets } = await influxApis(inputs.connection);
    // A bucket of this name that is already there (kept by an earlier `pulumi destroy`, or made before
    // this stack) is adopted with its points: only its settings become what the program declares.
    const found = await unlessGone(() => buckets.getBuckets({ orgID: inputs.orgId, name: inputs.name }));
    const existing = found?.buckets?.find((b) => b.name === inputs.name);
    if (existing?.id !== undefined) {
      const bucket = await buckets.patchBucketsID({ bucketID: existing.id, body: bucketPatch(inputs, existing) });
      return { id: existing.id, outs: bucketOutputs(inputs, bucket) };
    }
    const bucket = await buckets.postBuckets({
      body: {
        orgID: inputs.orgId,
        name: inputs.name,
        description: inputs.description,
        retentionRules: [
          {
            type: "expire",
            everySeconds: inputs.retentionSeconds,
            shardGroupDurationSeconds: inputs.shardGroupDurationSeconds,
          },
        ],
      },
    });
    return { id: bucket.id as string, outs: bucketOutputs(inputs, bucket) };
  },

  async read(id, props) {
    const olds = props as BucketOutputs;
    const { buckets } = await influxApis(olds.connection);
    const bucket = await unlessGone(() => buckets.getBucketsID({ bucketID: id }));
    if (!bucket) return {};
    const live: BucketOutputs = {
      ...olds,
      orgId: bucket.orgID ?? olds.orgId,
      name: bucket.name,
      description: bucket.description || undefined,
      retentionSeconds: bucket.retentionRules[0]?.everySeconds ?? 0,
      shardGroupDurationSeconds: bucket.retentionRules[0]?.shardGroupDurationSeconds ?? 0,
    };
    return { id, props: defined(live), inputs: defined(live) };
  },

  async update(id, _olds, news) {
    const { buckets } = await influxApis(news.connection);
    const current = await buckets.getBucketsID({ bucketID: id });
    const bucket = await buckets.patchBucketsID({ bucketID: id, body: bucketPatch(news, current) });
    return { outs: bucketOutputs(news, bucket) };
  },

  async delete(id, props) {
    const { buckets } = await influxApis(props.connection);
    await ignoreNotFound(() => buckets.deleteBucketsID({ bucketID: id }));
  },
};

/**
 * An InfluxDB bucket (POST /api/v2/buckets). Its `id` is the bucket id. Creating it where the
 * organisation already has a bucket of that name adopts that bucket, points and all. Deleting it
 * deletes its points: give it `retainOnDelete` to keep history through `pulumi destroy`.
 */
export class Bucket extends pulumi.dynamic.Resource {
  /** Owning organisation id. */
  declare public readonly orgId: pulumi.Output<string>;
  /** Bucket name. */
  declare public readonly name: pulumi.Output<string>;
  /** Retention in seconds, 0 for forever. */
  declare public readonly retentionSeconds: pulumi.Output<number>;
  /** Shard-group duration in effect, in seconds (the server's choice when not set). */
  declare public readonly shardGroupDurationSeconds: pulumi.Output<number>;
  /** Free text shown in the InfluxDB UI. */
  declare public readonly description: pulumi.Output<string | undefined>;

  constructor(name: string, args: BucketArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      bucketProvider,
      name,
      {
        ...connectedInputs(args.connection),
        orgId: args.orgId,
        name: args.name,
        retentionSeconds: args.retentionSeconds,
        shardGroupDurationSeconds: args.shardGroupDurationSeconds,
        description: args.description,
      },
      connectedOptions(opts),
      "influxdb",
      "Bucket",
    );
  }
}
