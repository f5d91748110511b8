// index.ts under mocks: a bad stack setting stops the program before it declares any resource.
import * as pulumi from "@pulumi/pulumi";
import { expect, it } from "vitest";
import { StackConfigError } from "../../components/config";

it("throws the configuration error and declares nothing", async () => {
  const declared: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name, inputs }) => {
        declared.push(`${type} ${name}`);
        return { id: `${name}-id`, state: inputs };
      },
      call: ({ inputs }) => inputs,
    },
    "ha-influx",
    "dev",
  );
  pulumi.runtime.setAllConfig({
    "ha-influx:onboarding": JSON.stringify({ password: "correct-horse" }),
    "ha-influx:buckets": JSON.stringify({ events: { retentionDays: 0.01 } }),
  });

  const loading = import("../../index");
  await expect(loading).rejects.toThrow(StackConfigError);
  await expect(loading).rejects.toThrow("buckets.events.retentionDays: must be at least 1 hour (got 0.01 days)");
  await pulumi.runtime.disconnect();
  expect(declared).toEqual([]);
});
