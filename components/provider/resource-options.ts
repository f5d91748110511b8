// Constructor-side helpers for the dynamic resources. Unlike `common.ts` this module uses the Pulumi
// SDK at run time, so provider methods must never call into it.
import * as pulumi from "@pulumi/pulumi";
import { type InfluxConnectionArgs, PROVIDER_VERSION } from "./common";

/** The connection input with its token forced secret, whatever the caller passed. */
export function secretConnection(connection: InfluxConnectionArgs) {
  return { url: connection.url, token: pulumi.secret(connection.token) };
}

/**
 * Options for a resource that talks to the server: the stored connection (it holds the token) and any
 * further named outputs are secret in the state.
 */
export function connectedOptions(
  opts: pulumi.CustomResourceOptions | undefined,
  secretOutputs: string[] = [],
): pulumi.CustomResourceOptions {
  return pulumi.mergeOptions(opts, { additionalSecretOutputs: ["connection", ...secretOutputs] });
}

/** Inputs every connected resource carries. */
export function connectedInputs(connection: InfluxConnectionArgs) {
  return { connection: secretConnection(connection), providerVersion: PROVIDER_VERSION };
}
