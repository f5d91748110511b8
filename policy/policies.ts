import type {
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import {
  AUTHORIZATION_TYPE,
  BUCKET_TYPE,
  ONBOARDING_TYPE,
  retentionViolations,
  rollupRetentionViolations,
  TASK_TYPE,
  tokenViolations,
} from "./rules";

/** Every bucket, the onboarding's initial one included, has a finite retention of at least one hour. */
export const finiteRetention = {
  name: "finite-bucket-retention",
  description: "Every InfluxDB bucket keeps data for a finite time of at least one hour.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type === BUCKET_TYPE) {
      for (const v of retentionViolations(`bucket ${args.props.name}`, args.props.retentionSeconds)) reportViolation(v);
    } else if (args.type === ONBOARDING_TYPE) {
      for (const v of retentionViolations(`initial bucket ${args.props.bucket}`, args.props.retentionSeconds)) {
        reportViolation(v);
      }
    }
  },
} satisfies ResourceValidationPolicy;

/** No token is all-access or writes to every bucket. */
export const leastPrivilegeTokens = {
  name: "least-privilege-tokens",
  description: "No API token has all-access or write to every bucket; each write is bound to a resource id.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    if (args.type !== AUTHORIZATION_TYPE) return;
    for (const v of tokenViolations(`token ${args.name}`, args.props.permissions)) reportViolation(v);
  },
} satisfies ResourceValidationPolicy;

/** Rollup buckets keep their data longer than the buckets they summarise. */
export const rollupOutlivesRaw = {
  name: "rollup-retention-exceeds-raw",
  description: "Each rollup task writes into a bucket that keeps data longer than the bucket it reads.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const tasks = args.resources
      .filter((r) => r.type === TASK_TYPE)
      .map((r) => ({ name: r.name, flux: String(r.props.flux ?? "") }));
    const buckets = args.resources
      .filter((r) => r.type === BUCKET_TYPE)
      .map((r) => ({ name: String(r.props.name), retentionSeconds: Number(r.props.retentionSeconds ?? 0) }));
    for (const v of rollupRetentionViolations(tasks, buckets)) reportViolation(v);
  },
} satisfies StackValidationPolicy;
