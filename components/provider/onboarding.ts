import * as pulumi from "@pulumi/pulumi";
import { MIN_RETENTION_SECONDS } from "./bucket";
import { defined, diffByRules, influxApis, inputChecker, PROVIDER_VERSION, UNKNOWN, unlessGone } from "./common";

/** Arguments of an {@link Onboarding}. */
export interface OnboardingArgs {
  /** Base URL of a server that has not been set up yet. */
  url: pulumi.Input<string>;
  /** Name of the initial (admin) user. */
  username: pulumi.Input<string>;
  /** Password of the initial user, at least 8 characters; stored as a secret. */
  password: pulumi.Input<string>;
  /** Name of the initial organisation. */
  org: pulumi.Input<string>;
  /** Name of the initial bucket. */
  bucket: pulumi.Input<string>;
  /** Retention of the initial bucket in seconds: 0 (the default) keeps data forever, else at least 3600. */
  retentionSeconds?: pulumi.Input<number | undefined>;
  /**
   * Operator token: the one a fresh server's setup creates (left out, the server generates one), and
   * the one a server that is already set up is adopted with. Stored as a secret.
   */
  token?: pulumi.Input<string | undefined>;
}

/** Onboarding inputs as the provider receives them. */
export interface OnboardingInputs {
  /** Base URL. */
  url: string;
  /** Initial user. */
  username: string;
  /** Initial user's password. */
  password: string;
  /** Initial organisation name. */
  org: string;
  /** Initial bucket name. */
  bucket: string;
  /** Initial bucket retention in seconds. */
  retentionSeconds?: number;
  /** Requested operator token. */
  token?: string;
  /** See {@link PROVIDER_VERSION}. */
  providerVersion: string;
}

/** Onboarding state: the inputs and what the setup created. */
export interface OnboardingOutputs extends OnboardingInputs {
  /** Id of the initial organisation. */
  orgId: string;
  /** Id of the initial bucket. */
  bucketId: string;
  /** Id of the initial user. */
  userId: string;
  /** The operator (all-access) token. */
  token: string;
}

/**
 * The setup API runs once per server and cannot be changed or undone, so any input change replaces the
 * onboarding (which fails on a server that is already set up: see {@link Onboarding}). Only a
 * provider-code change updates in place, touching nothing on the server.
 */
export const onboardingRules = {
  inPlace: ["providerVersion"],
  replace: ["url", "username", "password", "org", "bucket", "retentionSeconds", "token"],
} as const;

/**
 * The setup of a server that was set up before, found with its operator token: the token's user, and
 * the organisation and initial bucket by name. Nothing on the server changes.
 */
async function adoptSetup(inputs: OnboardingInputs, token: string): Promise<{ id: string; outs: OnboardingOutputs }> {
  const { me, orgs, buckets } = await influxApis({ url: inputs.url, token });
  const user = await me.getMe().catch((error: unknown) => {
    const status = (error as { statusCode?: unknown }).statusCode;
    throw new Error(
      status === 401
        ? `InfluxDB at ${inputs.url} is already set up and does not accept the configured operator token (server.adminToken)`
        : `InfluxDB at ${inputs.url}: could not read the operator token's user: ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  const org = (await unlessGone(() => orgs.getOrgs({ org: inputs.org })))?.orgs?.find((o) => o.name === inputs.org);
  if (org?.id === undefined) {
    throw new Error(
      `InfluxDB at ${inputs.url} is already set up but has no organisation named ${inputs.org} that the operator token can see`,
    );
  }
  const bucket = (await unlessGone(() => buckets.getBuckets({ orgID: org.id, name: inputs.bucket })))?.buckets?.find(
    (b) => b.name === inputs.bucket,
  );
  const userId = user.id as string;
  // The initial bucket may have been deleted by hand; nothing depends on it.
  return { id: userId, outs: defined({ ...inputs, orgId: org.id, bucketId: bucket?.id ?? "", userId, token }) };
}

/** Setup of a fresh server (POST /api/v2/setup), or adoption of one set up before; the resource id is the initial user's id. */
export const onboardingProvider: pulumi.dynamic.ResourceProvider<OnboardingInputs, OnboardingOutputs> = {
  async check(_olds, news) {
    const checker = inputChecker(news);
    checker.string("url");
    checker.string("username");
    checker.string("org");
    checker.string("bucket");
    const password: unknown = news.password;
    if (password !== UNKNOWN && (typeof password !== "string" || password.length < 8)) {
      checker.fail("password", "password must be a string of at least 8 characters (InfluxDB's minimum)");
    }
    checker.integer("retentionSeconds", { min: 0, optional: true });
    const retention = news.retentionSeconds;
    if (typeof retention === "number" && retention > 0 && retention < MIN_RETENTION_SECONDS) {
      checker.fail(
        "retentionSeconds",
        `retentionSeconds must be 0 (forever) or at least ${MIN_RETENTION_SECONDS} (InfluxDB rejects shorter), got ${retention}`,
      );
    }
    checker.string("token", { optional: true });
    return checker.result();
  },

  async diff(_id, olds, news) {
    // Without a requested token the server generated one; that is not a change of the inputs.
    const wanted = { ...news, token: news.token ?? olds.token };
    return diffByRules(olds as unknown as Record<string, unknown>, wanted, onboardingRules);
  },

  async create(inputs) {
    const { setup } = await influxApis({ url: inputs.url, token: "" });
    const { allowed } = await setup.getSetup();
    if (!allowed) {
      if (inputs.token === undefined) {
        throw new Error(
          `InfluxDB at ${inputs.url} is already set up (a kept data volume, or a server set up before), so its initial user, ` +
            "organisation and token cannot be created again. To adopt it with its data, give its operator token " +
            "(pulumi config set --secret --path ha-influx:server.adminToken <token>) and run up again.",
        );
      }
      return adoptSetup(inputs, inputs.token);
    }
    const result = await setup.postSetup({
      body: {
        username: inputs.username,
        password: inputs.password,
        org: inputs.org,
        bucket: inputs.bucket,
        retentionPeriodSeconds: inputs.retentionSeconds,
        token: inputs.token,
      },
    });
    const userId = result.user?.id as string;
    return {
      id: userId,
      outs: defined({
        ...inputs,
        orgId: result.org?.id as string,
        bucketId: result.bucket?.id as string,
        userId,
        token: result.auth?.token as string,
      }),
    };
  },

  async read(id, props) {
    const olds = props as OnboardingOutputs;
    const { setup } = await influxApis({ url: olds.url, token: "" });
    const { allowed } = await setup.getSetup();
    // A server that accepts setup again has lost its data: the onboarding is gone.
    return allowed ? {} : { id, props: olds };
  },

  async update(_id, olds, news) {
    return {
      outs: defined({ ...news, orgId: olds.orgId, bucketId: olds.bucketId, userId: olds.userId, token: olds.token }),
    };
  },

  async delete() {
    // The setup cannot be undone through the API; the user, organisation and token stay on the server.
  },
};

/**
 * The initial user, organisation, bucket and operator token of a fresh server (POST /api/v2/setup).
 *
 * Any input change replaces it. Creating it on a server that is already set up adopts that setup when
 * `token` is the server's operator token (its user, and the organisation and bucket by name; nothing
 * changes on the server), and fails with a message saying what to do otherwise. Deleting it is a
 * no-op: the setup cannot be undone through the API, so the user, organisation, bucket and token stay
 * on the server until its data is wiped.
 */
export class Onboarding extends pulumi.dynamic.Resource {
  /** Id of the initial organisation. */
  declare public readonly orgId: pulumi.Output<string>;
  /** Id of the initial bucket. */
  declare public readonly bucketId: pulumi.Output<string>;
  /** Id of the initial user. */
  declare public readonly userId: pulumi.Output<string>;
  /** The operator (all-access) token (secret). */
  declare public readonly token: pulumi.Output<string>;

  constructor(name: string, args: OnboardingArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      onboardingProvider,
      name,
      {
        url: args.url,
        username: args.username,
        password: pulumi.secret(args.password),
        org: args.org,
        bucket: args.bucket,
        retentionSeconds: args.retentionSeconds,
        token: args.token === undefined ? undefined : pulumi.secret(args.token),
        providerVersion: PROVIDER_VERSION,
        orgId: undefined,
        bucketId: undefined,
        userId: undefined,
      },
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["password", "token"] }),
      "influxdb",
      "Onboarding",
    );
  }
}
