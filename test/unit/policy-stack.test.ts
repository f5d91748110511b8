// The policy pack over what the dev stack declares: the program obeys its own guard rails.
import type { PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { beforeAll, expect, it } from "vitest";
import { parseStackConfig } from "../../components/config";
import { finiteRetention, leastPrivilegeTokens, rollupOutlivesRaw } from "../../policy/policies";
import { type Declaration, declareProgram, reveal, setPath, stackFileSettings } from "./helpers/declare";

let declared: Declaration;
beforeAll(async () => {
  const settings = setPath(
    setPath(stackFileSettings("Pulumi.dev.yaml"), "onboarding.password", "correct-horse"),
    "writer.homeAssistant.token",
    "t",
  );
  declared = await declareProgram(parseStackConfig(settings), "dev");
});

it("the dev stack passes every policy of the pack", () => {
  const resources = declared.resources.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.name,
    props: reveal(r.inputs) as Record<string, unknown>,
  }));
  const violations: string[] = [];
  const report = (message: string) => violations.push(message);
  for (const resource of resources) {
    finiteRetention.validateResource(resource as unknown as ResourceValidationArgs, report);
    leastPrivilegeTokens.validateResource(resource as unknown as ResourceValidationArgs, report);
  }
  rollupOutlivesRaw.validateStack(
    { resources: resources as unknown as PolicyResource[] } as StackValidationArgs,
    report,
  );
  expect(violations).toEqual([]);
  // The rules did look at something: six buckets, the onboarding, three tokens and two tasks.
  expect(resources.filter((r) => /:(Bucket|Onboarding|Authorization|Task)$/.test(r.type))).toHaveLength(12);
});
