// Pulumi dynamic resources over the InfluxDB v2 HTTP API. Each resource class has a provider object
// (e.g. `bucketProvider`) exported beside it, so tests can drive check/create/read/diff/update/delete
// without the engine, and a `...Rules` constant that says which input changes update in place and
// which replace.

export {
  Authorization,
  AuthorizationArgs,
  AuthorizationInputs,
  AuthorizationOutputs,
  authorizationProvider,
  authorizationRules,
  PERMISSION_TYPES,
  Permission,
  PermissionArgs,
  PermissionResource,
} from "./authorization";
export {
  Bucket,
  BucketArgs,
  BucketInputs,
  BucketOutputs,
  bucketProvider,
  bucketRules,
  defaultShardGroupSeconds,
  MIN_RETENTION_SECONDS,
} from "./bucket";
export { InfluxConnection, InfluxConnectionArgs, PROVIDER_VERSION } from "./common";
export { DbrpMapping, DbrpMappingArgs, DbrpMappingInputs, dbrpProvider, dbrpRules } from "./dbrp";
export {
  Onboarding,
  OnboardingArgs,
  OnboardingInputs,
  OnboardingOutputs,
  onboardingProvider,
  onboardingRules,
} from "./onboarding";
export {
  Organization,
  OrganizationArgs,
  OrganizationInputs,
  organizationProvider,
  organizationRules,
} from "./organization";
export {
  ServerHealth,
  ServerReady,
  ServerReadyArgs,
  ServerReadyInputs,
  ServerReadyOutputs,
  serverReadyProvider,
  serverReadyRules,
  waitForHealthy,
} from "./server-ready";
export { Task, TaskArgs, TaskInputs, TaskStatus, taskProvider, taskRules, taskScript } from "./task";
