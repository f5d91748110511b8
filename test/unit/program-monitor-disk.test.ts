// The dev stack (docker runtime) with an explicit monitor.capacityGb under mocks: the configured
// capacity wins, so the writer gets neither InfluxDB's data volume nor a dataDir.
import { beforeAll, expect, it } from "vitest";
import { parseStackConfig } from "../../components/config";
import { type Declaration, declareProgram, inputsOf, reveal, setPath, stackFileSettings } from "./helpers/declare";

let declared: Declaration;
beforeAll(async () => {
  let settings = stackFileSettings("Pulumi.dev.yaml");
  settings = setPath(settings, "onboarding.password", "correct-horse-battery");
  settings = setPath(settings, "writer.homeAssistant.token", "ha-long-lived-token");
  settings = setPath(settings, "monitor.capacityGb", "500");
  declared = await declareProgram(parseStackConfig(settings), "dev");
});

it("mounts only the spool into the writer when a capacity is configured", () => {
  const writer = reveal(inputsOf(declared, "docker:index/container:Container", "writer")) as Record<string, unknown>;
  expect(writer.volumes).toEqual([
    { volumeName: "ha-influx-dev-writer-spool", containerPath: "/var/lib/ha-influx-writer/spool" },
  ]);
});

it("gives the monitor the configured capacity and no dataDir", () => {
  const monitor = (declared.outputs.writerConfig!.value as { monitor: Record<string, unknown> }).monitor;
  expect(monitor.capacityBytes).toBe(500e9);
  expect(monitor).not.toHaveProperty("dataDir");
});
