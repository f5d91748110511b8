// vitest glue for the throwaway influxd: one server per test file (or per describe block), started
// before its tests and stopped after them even when they fail.
import { afterAll, beforeAll } from "vitest";
import { type InfluxdInstance, type StartInfluxdOptions, startInfluxd } from "./influxd";

/**
 * Registers hooks that start an influxd before the tests of the enclosing block and stop it after
 * them; returns an accessor for the running server.
 */
export function useInfluxd(options?: StartInfluxdOptions): () => InfluxdInstance {
  let instance: InfluxdInstance | undefined;
  beforeAll(async () => {
    instance = await startInfluxd(options);
  });
  afterAll(async () => {
    await instance?.stop();
  });
  return () => {
    if (!instance) throw new Error("influxd is not running: its beforeAll hook failed");
    return instance;
  };
}
