// Valid provider inputs, as the engine would pass them, for tests that vary one property at a time.
import type * as pulumi from "@pulumi/pulumi";
import type {
  AuthorizationInputs,
  BucketInputs,
  DbrpMappingInputs,
  OnboardingInputs,
  OrganizationInputs,
  ServerReadyInputs,
  TaskInputs,
} from "../../components/provider";
import {
  authorizationProvider,
  bucketProvider,
  dbrpProvider,
  onboardingProvider,
  organizationProvider,
  PROVIDER_VERSION,
  serverReadyProvider,
  taskProvider,
} from "../../components/provider";

const connection = { url: "http://127.0.0.1:8086", token: "test-token" };

/** Valid inputs per resource type. */
export const validInputs = {
  onboarding: {
    url: "http://127.0.0.1:8086",
    username: "admin",
    password: "long-enough",
    org: "o",
    bucket: "b",
    providerVersion: PROVIDER_VERSION,
  } satisfies OnboardingInputs,
  organization: { connection, providerVersion: PROVIDER_VERSION, name: "home_assistant" } satisfies OrganizationInputs,
  bucket: {
    connection,
    providerVersion: PROVIDER_VERSION,
    orgId: "org1",
    name: "events",
    retentionSeconds: 365 * 86_400,
    shardGroupDurationSeconds: 7 * 86_400,
  } satisfies BucketInputs,
  task: {
    connection,
    providerVersion: PROVIDER_VERSION,
    orgId: "org1",
    name: "hourly",
    flux: 'from(bucket: "events")',
    every: "1h",
    offset: "5m",
    status: "active",
  } satisfies TaskInputs,
  authorization: {
    connection,
    providerVersion: PROVIDER_VERSION,
    orgId: "org1",
    description: "writer",
    permissions: [{ action: "write", resource: { type: "buckets", id: "b1", orgId: "org1" } }],
  } satisfies AuthorizationInputs,
  dbrp: {
    connection,
    providerVersion: PROVIDER_VERSION,
    orgId: "org1",
    bucketId: "b1",
    database: "events",
    retentionPolicy: "autogen",
    isDefault: true,
  } satisfies DbrpMappingInputs,
  serverReady: { url: "http://127.0.0.1:8086", timeoutSeconds: 30 } satisfies ServerReadyInputs,
};

/** The kinds of resource the providers manage. */
export type ResourceKind = keyof typeof validInputs;

/** The provider object of each kind, untyped so tests can pass deliberately bad inputs. */
export const providers: Record<ResourceKind, pulumi.dynamic.ResourceProvider> = {
  onboarding: onboardingProvider,
  organization: organizationProvider,
  bucket: bucketProvider,
  task: taskProvider,
  authorization: authorizationProvider,
  dbrp: dbrpProvider,
  serverReady: serverReadyProvider,
};
