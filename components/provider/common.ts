// Shared pieces of the InfluxDB dynamic providers.
//
// Everything a provider method calls at run time lives in plain functions (no classes: the closure
// serialiser rebuilds a class from its constructor's text and drops field initialisers) that reach no
// imported module object: the Pulumi SDK serialises each provider object, with every function it
// reaches, into the state, and a captured module would drag its whole graph in or fail.
import type * as pulumi from "@pulumi/pulumi";

/** How a provider reaches the server; `token` must be passed as a secret Output. */
export interface InfluxConnectionArgs {
  /** Base URL of the InfluxDB server, e.g. `http://127.0.0.1:8086`. */
  url: pulumi.Input<string>;
  /** An API token allowed to manage the resource; pass it as a secret Output. */
  token: pulumi.Input<string>;
}

/** The connection as the providers receive it, with every input resolved. */
export interface InfluxConnection {
  /** Base URL of the InfluxDB server. */
  url: string;
  /** The API token used for every call. */
  token: string;
}

/**
 * Stamped into every resource's inputs. Bump it when a change of provider code must reach resources
 * that already exist: the engine only stores a new serialised provider when a resource updates, and a
 * `providerVersion` change is an in-place update for every resource type.
 */
export const PROVIDER_VERSION = "3";

/** The value the engine sends for an input that is not known yet (during a preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Inputs every resource that talks to the server carries. */
export interface ConnectedInputs {
  /** Where and how to reach the server. */
  connection: InfluxConnection;
  /** See {@link PROVIDER_VERSION}. */
  providerVersion: string;
}

/**
 * Typed access to the generated InfluxDB v2 APIs for one connection. The client is loaded here, at
 * call time, with `require` rather than `await import()`: under ts-node both compile to the same
 * `require`, but vitest rewrites `import()` into a loader function that cannot be serialised, so a
 * program tested under `pulumi.runtime.setMocks` in vitest could not construct these resources.
 */
export async function influxApis(connection: InfluxConnection) {
  const { InfluxDB }: typeof import("@influxdata/influxdb-client") = require("@influxdata/influxdb-client");
  const apis: typeof import("@influxdata/influxdb-client-apis") = require("@influxdata/influxdb-client-apis");
  const influx = new InfluxDB({ url: connection.url, token: connection.token, timeout: 30_000 });
  return {
    orgs: new apis.OrgsAPI(influx),
    buckets: new apis.BucketsAPI(influx),
    tasks: new apis.TasksAPI(influx),
    authorizations: new apis.AuthorizationsAPI(influx),
    dbrps: new apis.DbrpsAPI(influx),
    setup: new apis.SetupAPI(influx),
    me: new apis.MeAPI(influx),
  };
}

/** True when an API call failed because the object does not exist (any more). */
export function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { statusCode?: unknown }).statusCode === 404;
}

/**
 * The object without its undefined-valued keys. The dynamic-provider plugin sends results through
 * protobuf's `Struct.fromJavaScript`, which rejects `undefined` ("Unexpected struct type").
 */
export function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** What `call` fetched, or undefined when the server no longer has the object. */
export async function unlessGone<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Runs `call`, treating "not found" as success: deleting what is already gone is not an error. */
export async function ignoreNotFound(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/** Which input properties a change of updates in place and which forces a replacement. */
export interface ChangeRules {
  /** Properties the API can change on the existing object. */
  inPlace: readonly string[];
  /** Properties the API cannot change: a new object has to be created. */
  replace: readonly string[];
}

/** Order-insensitive for object keys, so values read back from the server compare equal. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "undefined";
}

/**
 * Compares the stored outputs with the new inputs, property by property, and reports only what
 * changed; `replaces` names the changed properties the API cannot update in place.
 */
export function diffByRules(
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
  rules: ChangeRules,
): pulumi.dynamic.DiffResult {
  const changed = (key: string) => canonical(olds[key]) !== canonical(news[key]);
  const replaces = rules.replace.filter(changed);
  const updates = rules.inPlace.filter(changed);
  return { changes: replaces.length + updates.length > 0, replaces };
}

/** Records check failures, each naming the property it is about. */
export interface InputChecker {
  /** Records a failure for `property`. */
  fail(property: string, reason: string): void;
  /** The property must be a non-empty string. */
  string(property: string, options?: { optional?: boolean }): void;
  /** The property must be a whole number of at least `min`. */
  integer(property: string, options?: { min?: number; optional?: boolean }): void;
  /** The property must be one of `allowed`. */
  oneOf(property: string, allowed: readonly unknown[], options?: { optional?: boolean }): void;
  /** The property must be a boolean. */
  boolean(property: string): void;
  /** The `connection` input must carry an http(s) URL and a token. */
  connection(): void;
  /** The check result: the inputs as given, with any failures. */
  result(): pulumi.dynamic.CheckResult;
}

/**
 * A checker over one set of inputs. Inputs not known yet (during a preview) pass. A factory of
 * closures rather than a class: the closure serialiser rebuilds a class from its constructor's text
 * and loses field initialisers.
 */
export function inputChecker(checked: object): InputChecker {
  const inputs = checked as Record<string, unknown>;
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const fail = (property: string, reason: string) => void failures.push({ property, reason });
  const skip = (property: string, optional: boolean) =>
    inputs[property] === UNKNOWN || (optional && inputs[property] === undefined);
  return {
    fail,
    string(property, { optional = false } = {}) {
      const value = inputs[property];
      if (skip(property, optional)) return;
      if (typeof value !== "string" || value.trim() === "") fail(property, `${property} must be a non-empty string`);
    },
    integer(property, { min = 0, optional = false } = {}) {
      const value = inputs[property];
      if (skip(property, optional)) return;
      if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
        fail(property, `${property} must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
      }
    },
    oneOf(property, allowed, { optional = false } = {}) {
      const value = inputs[property];
      if (skip(property, optional)) return;
      if (!allowed.includes(value))
        fail(
          property,
          `${property} must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(value)}`,
        );
    },
    boolean(property) {
      if (!skip(property, false) && typeof inputs[property] !== "boolean")
        fail(property, `${property} must be true or false`);
    },
    connection() {
      const connection = inputs.connection;
      if (connection === UNKNOWN) return;
      if (typeof connection !== "object" || connection === null) {
        fail("connection", "connection must be an object with url and token");
        return;
      }
      const { url, token } = connection as Record<string, unknown>;
      if (url !== UNKNOWN && (typeof url !== "string" || !/^https?:\/\/[^\s/]+/.test(url)))
        fail("connection.url", "connection.url must be an http(s) URL");
      if (token !== UNKNOWN && (typeof token !== "string" || token === ""))
        fail("connection.token", "connection.token must be a non-empty string");
    },
    result() {
      return { inputs, failures };
    },
  };
}
