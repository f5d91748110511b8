// The stack: validate every `ha-influx:*` setting first (a bad key stops here, before any resource
// exists), then declare the program and export its outputs.
import { parseStackConfig, readStackConfig } from "./components/config";
import { program } from "./components/program";

const outputs = program(parseStackConfig(readStackConfig()));

export const url = outputs.url;
export const orgName = outputs.orgName;
export const orgId = outputs.orgId;
export const buckets = outputs.buckets;
export const taskIds = outputs.taskIds;
export const tokens = outputs.tokens;
export const writerConfig = outputs.writerConfig;
export const analysisConfig = outputs.analysisConfig;
