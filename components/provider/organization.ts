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

/** Arguments of an {@link Organization}. */
export interface OrganizationArgs {
  /** Where and how to reach the server. */
  connection: InfluxConnectionArgs;
  /** Organisation name, unique on the server. */
  name: pulumi.Input<string>;
  /** Free text shown in the InfluxDB UI. */
  description?: pulumi.Input<string | undefined>;
}

/** Organisation inputs as the provider receives them. */
export interface OrganizationInputs extends ConnectedInputs {
  /** Organisation name. */
  name: string;
  /** Free text; absent means empty. */
  description?: string;
}

/** Name and description update in place (PATCH /api/v2/orgs/{id}); nothing forces a replacement. */
export const organizationRules = {
  inPlace: ["name", "description", "connection", "providerVersion"],
  replace: [],
} as const;

/** CRUD for an InfluxDB organisation; the resource id is the organisation id. */
export const organizationProvider: pulumi.dynamic.ResourceProvider<OrganizationInputs, OrganizationInputs> = {
  async check(_olds, news) {
    const checker = inputChecker(news);
    checker.connection();
    checker.string("name");
    checker.string("description", { optional: true });
    return checker.result();
  },

  async diff(_id, olds, news) {
    return diffByRules(
      { ...olds, description: olds.description || undefined },
      { ...news, description: news.description || undefined },
      organizationRules,
    );
  },

  async create(inputs) {
    const { orgs } = await influxApis(inputs.connection);
    // An organisation of this name that is already there (kept by an earlier `pulumi destroy`, or made
    // before this stack) is adopted with everything in it; only its description is set.
    const found = await unlessGone(() => orgs.getOrgs({ org: inputs.name }));
    const existing = found?.orgs?.find((org) => org.name === inputs.name);
    if (existing?.id !== undefined) {
      await orgs.patchOrgsID({ orgID: existing.id, body: { description: inputs.description ?? "" } });
      return { id: existing.id, outs: defined(inputs) };
    }
    const org = await orgs.postOrgs({ body: { name: inputs.name, description: inputs.description } });
    return { id: org.id as string, outs: defined(inputs) };
  },

  async read(id, props) {
    const olds = props as OrganizationInputs;
    const { orgs } = await influxApis(olds.connection);
    const org = await unlessGone(() => orgs.getOrgsID({ orgID: id }));
    if (!org) return {};
    const live: OrganizationInputs = { ...olds, name: org.name, description: org.description || undefined };
    return { id, props: defined(live), inputs: defined(live) };
  },

  async update(id, _olds, news) {
    const { orgs } = await influxApis(news.connection);
    // An empty description clears it; leaving it out would keep the old text.
    await orgs.patchOrgsID({ orgID: id, body: { name: news.name, description: news.description ?? "" } });
    return { outs: defined(news) };
  },

  async delete(id, props) {
    const { orgs } = await influxApis(props.connection);
    await ignoreNotFound(() => orgs.deleteOrgsID({ orgID: id }));
  },
};

/**
 * An InfluxDB organisation (POST /api/v2/orgs). Its `id` is the organisation id. Creating it where an
 * organisation of that name exists adopts that one. Deleting it deletes every bucket in it: give it
 * `retainOnDelete` to keep history through `pulumi destroy`.
 */
export class Organization extends pulumi.dynamic.Resource {
  /** Organisation name. */
  declare public readonly name: pulumi.Output<string>;
  /** Free text shown in the InfluxDB UI. */
  declare public readonly description: pulumi.Output<string | undefined>;

  constructor(name: string, args: OrganizationArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      organizationProvider,
      name,
      { ...connectedInputs(args.connection), name: args.name, description: args.description },
      connectedOptions(opts),
      "influxdb",
      "Organization",
    );
  }
}
