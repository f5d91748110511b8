import * as pulumi from "@pulumi/pulumi";
import {
  type ConnectedInputs,
  canonical,
  defined,
  diffByRules,
  type InfluxConnectionArgs,
  ignoreNotFound,
  influxApis,
  inputChecker,
  UNKNOWN,
  unlessGone,
} from "./common";
import { connectedInputs, connectedOptions } from "./resource-options";

/** What a permission applies to: every `type` resource, those of one org, or one by id. */
export interface PermissionResource {
  /** Resource type, e.g. `buckets`, `tasks`, `orgs`. */
  type: string;
  /** Only the resource with this id. */
  id?: string;
  /** Only resources owned by this organisation. */
  orgId?: string;
}

/** One permission of an authorization. */
export interface Permission {
  /** `read` or `write` (write does not imply read). */
  action: "read" | "write";
  /** What the action is allowed on. */
  resource: PermissionResource;
}

/** A {@link Permission} whose parts may still be Outputs (e.g. the id of a bucket being created). */
export interface PermissionArgs {
  /** `read` or `write` (write does not imply read). */
  action: pulumi.Input<"read" | "write">;
  /** What the action is allowed on. */
  resource: pulumi.Input<{
    /** Resource type, e.g. `buckets`. */
    type: pulumi.Input<string>;
    /** Only the resource with this id. */
    id?: pulumi.Input<string | undefined>;
    /** Only resources owned by this organisation. */
    orgId?: pulumi.Input<string | undefined>;
  }>;
}

/** Arguments of an {@link Authorization}. */
export interface AuthorizationArgs {
  /** Where and how to reach the server. */
  connection: InfluxConnectionArgs;
  /** Organisation the token belongs to. */
  orgId: pulumi.Input<string>;
  /** What the token is for; shown in the InfluxDB UI. */
  description: pulumi.Input<string>;
  /** What the token may do. The server cannot change these: a change replaces the token. */
  permissions: pulumi.Input<pulumi.Input<PermissionArgs>[]>;
  /** `inactive` tokens are refused by the server; default `active`. */
  status?: pulumi.Input<"active" | "inactive" | undefined>;
}

/** Authorization inputs as the provider receives them. */
export interface AuthorizationInputs extends ConnectedInputs {
  /** Owning organisation id. */
  orgId: string;
  /** What the token is for. */
  description: string;
  /** What the token may do. */
  permissions: Permission[];
  /** Token status; absent means active. */
  status?: "active" | "inactive";
}

/** Authorization state: the inputs and the token, which the server returns once, at creation. */
export interface AuthorizationOutputs extends AuthorizationInputs {
  /** The API token. */
  token: string;
}

/** Resource types InfluxDB 2.7 accepts in a permission. */
export const PERMISSION_TYPES = [
  "authorizations",
  "buckets",
  "dashboards",
  "orgs",
  "sources",
  "tasks",
  "telegrafs",
  "users",
  "variables",
  "scrapers",
  "secrets",
  "labels",
  "views",
  "documents",
  "notificationRules",
  "notificationEndpoints",
  "checks",
  "dbrp",
  "notebooks",
  "annotations",
  "remotes",
  "replications",
  "instance",
  "flows",
  "functions",
] as const;

/**
 * Description and status update in place (PATCH /api/v2/authorizations/{id}); the API cannot change
 * permissions or the organisation, so those replace the token (a new token value).
 */
export const authorizationRules = {
  inPlace: ["description", "status", "connection", "providerVersion"],
  replace: ["orgId", "permissions"],
} as const;

/** Permissions as a set: order and the names the server adds do not matter. */
function permissionSet(permissions: Permission[]): string[] {
  // Parts not known yet (during a preview) come as the engine's marker string, never as objects.
  return permissions
    .map((p) =>
      canonical({
        action: p?.action,
        resource: { type: p?.resource?.type, id: p?.resource?.id, orgId: p?.resource?.orgId },
      }),
    )
    .sort();
}

function comparable(inputs: AuthorizationInputs) {
  return {
    ...inputs,
    status: inputs.status ?? "active",
    permissions: Array.isArray(inputs.permissions) ? permissionSet(inputs.permissions) : inputs.permissions,
  };
}

/** CRUD for an InfluxDB authorization (API token); the resource id is the authorization id. */
export const authorizationProvider: pulumi.dynamic.ResourceProvider<AuthorizationInputs, AuthorizationOutputs> = {
  async check(_olds, news) {
    const checker = inputChecker(news);
    checker.connection();
    checker.string("orgId");
    checker.string("description");
    checker.oneOf("status", ["active", "inactive"], { optional: true });
    const permissions: unknown = news.permissions;
    if (permissions !== UNKNOWN) {
      if (!Array.isArray(permissions) || permissions.length === 0) {
        checker.fail("permissions", "permissions must be a non-empty list");
      } else {
        permissions.forEach((permission: Partial<Permission> | undefined, i) => {
          if ((permission as unknown) === UNKNOWN) return;
          const action: unknown = permission?.action;
          if (action !== UNKNOWN && action !== "read" && action !== "write") {
            checker.fail(`permissions[${i}].action`, `permissions[${i}].action must be "read" or "write"`);
          }
          const resource: unknown = permission?.resource;
          const type: unknown = resource === UNKNOWN ? UNKNOWN : permission?.resource?.type;
          if (type !== UNKNOWN && !(PERMISSION_TYPES as readonly unknown[]).includes(type)) {
            checker.fail(
              `permissions[${i}].resource.type`,
              `permissions[${i}].resource.type must be one of ${PERMISSION_TYPES.join(", ")}, got ${JSON.stringify(type)}`,
            );
          }
        });
      }
    }
    return checker.result();
  },

  async diff(_id, olds, news) {
    return diffByRules(comparable(olds), comparable(news), authorizationRules);
  },

  async create(inputs) {
    const { authorizations } = await influxApis(inputs.connection);
    const auth = await authorizations.postAuthorizations({
      body: {
        orgID: inputs.orgId,
        description: inputs.description,
        status: inputs.status ?? "active",
        permissions: inputs.permissions.map((p) => ({
          action: p.action,
          resource: {
            type: p.resource.type as (typeof PERMISSION_TYPES)[number],
            id: p.resource.id,
            orgID: p.resource.orgId,
          },
        })),
      },
    });
    return {
      id: auth.id as string,
      outs: defined({ ...inputs, status: inputs.status ?? "active", token: auth.token as string }),
    };
  },

  async read(id, props) {
    const olds = props as AuthorizationOutputs;
    const { authorizations } = await influxApis(olds.connection);
    const auth = await unlessGone(() => authorizations.getAuthorizationsID({ authID: id }));
    if (!auth) return {};
    const inputs: AuthorizationInputs = {
      connection: olds.connection,
      providerVersion: olds.providerVersion,
      orgId: auth.orgID ?? olds.orgId,
      description: auth.description ?? "",
      status: auth.status ?? "active",
      permissions: (auth.permissions ?? []).map((p) => ({
        action: p.action,
        resource: {
          type: p.resource.type,
          ...(p.resource.id ? { id: p.resource.id } : {}),
          ...(p.resource.orgID ? { orgId: p.resource.orgID } : {}),
        },
      })),
    };
    // The stored token is kept as it is: whether the server shows it again is not ours to rely on.
    // The SDK types `inputs` as outputs; the engine stores them as the resource's inputs, without the token.
    return { id, props: defined({ ...inputs, token: olds.token }), inputs: defined(inputs) as AuthorizationOutputs };
  },

  async update(id, olds, news) {
    const { authorizations } = await influxApis(news.connection);
    await authorizations.patchAuthorizationsID({
      authID: id,
      body: { description: news.description, status: news.status ?? "active" },
    });
    return { outs: defined({ ...news, status: news.status ?? "active", token: olds.token }) };
  },

  async delete(id, props) {
    const { authorizations } = await influxApis(props.connection);
    await ignoreNotFound(() => authorizations.deleteAuthorizationsID({ authID: id }));
  },
};

/** An InfluxDB API token (POST /api/v2/authorizations). Its `id` is the authorization id. */
export class Authorization extends pulumi.dynamic.Resource {
  /** Owning organisation id. */
  declare public readonly orgId: pulumi.Output<string>;
  /** What the token is for. */
  declare public readonly description: pulumi.Output<string>;
  /** What the token may do. */
  declare public readonly permissions: pulumi.Output<Permission[]>;
  /** Token status. */
  declare public readonly status: pulumi.Output<"active" | "inactive">;
  /** The API token (secret). */
  declare public readonly token: pulumi.Output<string>;

  constructor(name: string, args: AuthorizationArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      authorizationProvider,
      name,
      {
        ...connectedInputs(args.connection),
        orgId: args.orgId,
        description: args.description,
        permissions: args.permissions,
        status: args.status,
        token: undefined,
      },
      connectedOptions(opts, ["token"]),
      "influxdb",
      "Authorization",
    );
  }
}
