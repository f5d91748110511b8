// The dev stack with the two data-safety settings changed, under mocks: `deleteDataOnDestroy: true`
// (history goes with the stack, as the user asked) and `server.adminToken` (the token the setup creates,
// and the one a kept volume is adopted with); and a prebuilt writer image.
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig } from "../../components/config";
import {
  type Declaration,
  DYNAMIC,
  declareProgram,
  inputsOf,
  isSecretValue,
  optionsOf,
  reveal,
  setPath,
  stackFileSettings,
} from "./helpers/declare";

let declared: Declaration;

beforeAll(async () => {
  let settings = stackFileSettings("Pulumi.dev.yaml");
  settings = setPath(settings, "onboarding.password", "correct-horse-battery");
  settings = setPath(settings, "writer.homeAssistant.token", "ha-long-lived-token");
  settings = setPath(settings, "server.adminToken", "chosen-operator-token");
  settings = setPath(settings, "deleteDataOnDestroy", "true");
  settings = setPath(settings, "writer.image", "registry.home.arpa/ha-influx-writer:1.2.0");
  declared = await declareProgram(parseStackConfig(settings), "dev");
});

describe("Pulumi.dev.yaml with deleteDataOnDestroy, server.adminToken and writer.image", () => {
  it("runs a prebuilt writer image by its id, not its tag, and builds nothing", () => {
    expect(declared.resources.filter((r) => r.type === "docker:index/image:Image")).toEqual([]);
    expect(inputsOf(declared, "docker:index/remoteImage:RemoteImage", "writer-image")).toEqual({
      name: "registry.home.arpa/ha-influx-writer:1.2.0",
      keepLocally: true,
    });
    // The mocks' imageId of that RemoteImage.
    expect(reveal(inputsOf(declared, "docker:index/container:Container", "writer").image)).toBe("sha256:writer-image");
  });

  it("lets pulumi destroy delete every bucket and the data volume", () => {
    for (const role of ["events", "weather", "system", "sports", "hourly", "daily"]) {
      expect(optionsOf(declared, `${DYNAMIC}:Bucket`, `home-assistant-${role}`).retainOnDelete, role).toBe(false);
    }
    expect(optionsOf(declared, "docker:index/volume:Volume", "influxdb-data").retainOnDelete).toBe(false);
  });

  it("still keeps the onboarding, which the API cannot undo, and the spool of undelivered events", () => {
    expect(optionsOf(declared, `${DYNAMIC}:Onboarding`, "influxdb-onboarding").retainOnDelete).toBe(true);
    expect(optionsOf(declared, "docker:index/volume:Volume", "writer-spool").retainOnDelete).toBe(true);
  });

  it("onboards (or adopts) with the configured operator token, as a secret, and manages everything with it", () => {
    const onboarding = inputsOf(declared, `${DYNAMIC}:Onboarding`, "influxdb-onboarding");
    expect(isSecretValue(onboarding.token)).toBe(true);
    expect(reveal(onboarding.token)).toBe("chosen-operator-token");
    const bucket = inputsOf(declared, `${DYNAMIC}:Bucket`, "home-assistant-events");
    expect(isSecretValue(bucket.connection)).toBe(true);
    // The mocks answer with the token the onboarding reports, which is what the provider returns.
    expect(reveal(bucket.connection)).toMatchObject({ url: "http://127.0.0.1:8086" });
  });
});
