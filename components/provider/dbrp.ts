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

/** Arguments of a {@link DbrpMapping}. */
export interface DbrpMappingArgs {
  /** Where and how to reach the server. */
  connection: InfluxConnectionArgs;
  /** Organisation of the bucket. */
  orgId: pulumi.Input<string>;
  /** The bucket InfluxQL queries of this database/retention policy read. */
  bucketId: pulumi.Input<string>;
  /** InfluxQL database name. */
  database: pulumi.Input<string>;
  /** InfluxQL retention policy name. */
  retentionPolicy: pulumi.Input<string>;
  /**
   * Whether this is the database's default retention policy. The server keeps exactly one default per
   * database: it makes a database's only mapping the default whatever this says, and making one
   * mapping the default clears the flag on the others.
   */
  isDefault: pulumi.Input<boolean>;
}

/** DBRP mapping inputs as the provider receives them. */
export interface DbrpMappingInputs extends ConnectedInputs {
  /** Organisation id. */
  orgId: string;
  /** Bucket id. */
  bucketId: string;
  /** InfluxQL database name. */
  database: string;
  /** InfluxQL retention policy name. */
  retentionPolicy: string;
  /** Default retention policy of the database. */
  isDefault: boolean;
}

/**
 * Retention policy name and the default flag update in place (PATCH /api/v2/dbrps/{id}); the API
 * cannot change the organisation, bucket or database of a mapping, so those replace it.
 */
export const dbrpRules = {
  inPlace: ["retentionPolicy", "isDefault", "connection", "providerVersion"],
  replace: ["orgId", "bucketId", "database"],
} as const;

/** CRUD for an InfluxDB DBRP mapping (InfluxQL database/retention policy to bucket). */
export const dbrpProvider: pulumi.dynamic.ResourceProvider<DbrpMappingInputs, DbrpMappingInputs> = {
  async check(_olds, news) {
    const checker = inputChecker(news);
    checker.connection();
    checker.string("orgId");
    checker.string("bucketId");
    checker.string("database");
    checker.string("retentionPolicy");
    checker.boolean("isDefault");
    return checker.result();
  },

  async diff(_id, olds, news) {
    const result = diffByRules(
      olds as unknown as Record<string, unknown>,
      news as unknown as Record<string, unknown>,
      dbrpRules,
    );
    // The server refuses a second mapping of the same database and retention policy, so the old one
    // has to go before its replacement is created.
    return result.replaces?.length ? { ...result, deleteBeforeReplace: true } : result;
  },

  async create(inputs) {
    const { dbrps } = await influxApis(inputs.connection);
    // The same mapping left by a stack that lost its state (a server adopted without `pulumi destroy`)
    // is adopted; one of this database and retention policy for another bucket still fails below.
    const found = await unlessGone(() =>
      dbrps.getDBRPs({ orgID: inputs.orgId, db: inputs.database, rp: inputs.retentionPolicy }),
    );
    const same = found?.content?.find(
      (m) =>
        !m.virtual &&
        m.bucketID === inputs.bucketId &&
        m.database === inputs.database &&
        m.retention_policy === inputs.retentionPolicy,
    );
    if (same !== undefined) {
      await dbrps.patchDBRPID({
        dbrpID: same.id,
        orgID: inputs.orgId,
        body: { retention_policy: inputs.retentionPolicy, default: inputs.isDefault },
      });
      return { id: same.id, outs: defined(inputs) };
    }
    const dbrp = await dbrps.postDBRP({
      body: {
        orgID: inputs.orgId,
        bucketID: inputs.bucketId,
        database: inputs.database,
        retention_policy: inputs.retentionPolicy,
        default: inputs.isDefault,
      },
    });
    return { id: dbrp.id, outs: defined(inputs) };
  },

  async read(id, props) {
    const olds = props as DbrpMappingInputs;
    const { dbrps } = await influxApis(olds.connection);
    const content = (await unlessGone(() => dbrps.getDBRPsID({ dbrpID: id, orgID: olds.orgId })))?.content;
    if (!content) return {};
    const live: DbrpMappingInputs = {
      ...olds,
      orgId: content.orgID,
      bucketId: content.bucketID,
      database: content.database,
      retentionPolicy: content.retention_policy,
      isDefault: content.default,
    };
    return { id, props: defined(live), inputs: defined(live) };
  },

  async update(id, _olds, news) {
    const { dbrps } = await influxApis(news.connection);
    await dbrps.patchDBRPID({
      dbrpID: id,
      orgID: news.orgId,
      body: { retention_policy: news.retentionPolicy, default: news.isDefault },
    });
    return { outs: defined(news) };
  },

  async delete(id, props) {
    const { dbrps } = await influxApis(props.connection);
    await ignoreNotFound(() => dbrps.deleteDBRPID({ dbrpID: id, orgID: props.orgId }));
  },
};

/** An InfluxDB DBRP mapping (POST /api/v2/dbrps) so InfluxQL clients such as Grafana can read a bucket. */
export class DbrpMapping extends pulumi.dynamic.Resource {
  /** Organisation id. */
  declare public readonly orgId: pulumi.Output<string>;
  /** Bucket id. */
  declare public readonly bucketId: pulumi.Output<string>;
  /** InfluxQL database name. */
  declare public readonly database: pulumi.Output<string>;
  /** InfluxQL retention policy name. */
  declare public readonly retentionPolicy: pulumi.Output<string>;
  /** Default retention policy of the database. */
  declare public readonly isDefault: pulumi.Output<boolean>;

  constructor(name: string, args: DbrpMappingArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      dbrpProvider,
      name,
      {
        ...connectedInputs(args.connection),
        orgId: args.orgId,
        bucketId: args.bucketId,
        database: args.database,
        retentionPolicy: args.retentionPolicy,
        isDefault: args.isDefault,
      },
      connectedOptions(opts),
      "influxdb",
      "DbrpMapping",
    );
  }
}
