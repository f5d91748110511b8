// Pulumi dynamic resources over the InfluxDB v2 HTTP API. Each resource class has a provider object
// (e.g. `bucketProvider`) exported beside it, so tests can drive check/create/read/diff/update/delete
// without the engine, and a `...Rules` constant that says which input changes update in place and
// which replace.
export { InfluxConnectionArgs, InfluxConnection, PROVIDER_VERSION } from "./common";
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
  Bucket,
  BucketArgs,
  BucketInputs,
  BucketOutputs,
  MIN_RETENTION_SECONDS,
  bucketProvider,
  bucketRules,
  defaultShardGroupSeconds,
} from "./bucket";
export { Task, TaskArgs, TaskInputs, TaskStatus, taskProvider, taskRules, taskScript } from "./task";
export {
  Authorization,
  AuthorizationArgs,
  AuthorizationInputs,
  AuthorizationOutputs,
  Permission,
  PermissionArgs,
  PermissionResource,
  PERMISSION_TYPES,
  authorizationProvider,
  authorizationRules,
} from "./authorization";
export { DbrpMapping, DbrpMappingArgs, DbrpMappingInputs, dbrpProvider, dbrpRules } from "./dbrp";
export {
  ServerReady,
  ServerReadyArgs,
  ServerReadyInputs,
  ServerReadyOutputs,
  ServerHealth,
  serverReadyProvider,
  serverReadyRules,
  waitForHealthy,
} from "./server-ready";
