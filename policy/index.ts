// CrossGuard policy pack: `pulumi preview --policy-pack policy` (or `pulumi up --policy-pack policy`).
import { PolicyPack } from "@pulumi/policy";
import { finiteRetention, leastPrivilegeTokens, rollupOutlivesRaw } from "./policies";

new PolicyPack("ha-influx", { policies: [finiteRetention, leastPrivilegeTokens, rollupOutlivesRaw] });
