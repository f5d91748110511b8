/**
 * The parts the pipeline's memory rests on: the processor reads memory and never changes it, held
 * deltas are seen until settled and committed in the order they were held, and the in-flight count
 * resolves `drained` when it reaches zero, without a timer.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { EntityMemory, type EntityState, type MemoryDelta } from "../src/entityMemory";
import { InFlight } from "../src/inFlight";
import { EventProcessor } from "../src/processor";
import { HOME_ASSISTANT_SOURCE } from "../src/sources/sink";
import { WeatherContext } from "../src/weatherContext";
import { memoryLogger, stateChanged, testConfig } from "./helpers/setup";

const state = (value: string, atUs: number): EntityState => ({
  lastEventUs: atUs,
  lastWrittenUs: atUs,
  lastHadTime: true,
  state: value,
  changedUs: atUs,
});
const delta = (entries: Record<string, EntityState>): MemoryDelta => new Map(Object.entries(entries));
const flushMicrotasks = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe("event processor", () => {
  it("computes lines and a delta for a batch without changing the memory", () => {
    const processor = new EventProcessor(
      testConfig("http://127.0.0.1:1", "unused"),
      new WeatherContext(undefined, memoryLogger().logger),
    );
    const memory = new EntityMemory();
    memory.restore("light.x", state("off", Date.UTC(2026, 5, 1, 9) * 1000));
    const batch = processor.process(
      [
        stateChanged("light.x", "on", "2026-06-01T10:00:00+00:00"),
        stateChanged("sensor.new", "1", "2026-06-01T10:00:00+00:00"),
      ],
      HOME_ASSISTANT_SOURCE,
      Date.now() * 1000,
      memory,
    );
    expect(batch.accepted).toBe(2);
    expect(batch.records[0]!.count).toBe(2);
    expect(batch.records[0]!.lines).toContain('previous_state="off"');
    expect([...memory.entries()]).toEqual([["light.x", state("off", Date.UTC(2026, 5, 1, 9) * 1000)]]);
    expect(batch.delta.get("light.x")).toMatchObject({ state: "on", changedUs: Date.UTC(2026, 5, 1, 10) * 1000 });
    expect(batch.delta.get("sensor.new")).toMatchObject({ state: "1" });
  });
});

describe("entity memory", () => {
  it("answers from held deltas until they settle; a dropped one is forgotten, others stay", () => {
    const memory = new EntityMemory();
    memory.restore("light.x", state("off", 1));
    const first = memory.hold(delta({ "light.x": state("on", 2) }));
    const second = memory.hold(delta({ "sensor.y": state("5", 3) }));
    expect(memory.get("light.x")!.state).toBe("on");
    memory.settle(first, false);
    expect(memory.get("light.x")!.state).toBe("off");
    memory.settle(second, true);
    expect(Object.fromEntries([...memory.entries()].map(([id, s]) => [id, s.state]))).toEqual({
      "light.x": "off",
      "sensor.y": "5",
    });
  });

  it("commits in the order deltas were held, so a late success never overwrites a newer state", () => {
    const changes: number[] = [];
    const memory = new EntityMemory(() => changes.push(1));
    const older = memory.hold(delta({ "light.x": state("on", 2) }));
    const newer = memory.hold(delta({ "light.x": state("off", 3) }));
    memory.settle(newer, true);
    expect([...memory.entries()]).toEqual([]);
    expect(memory.get("light.x")!.state).toBe("off");
    memory.settle(older, true);
    expect([...memory.entries()].map(([, s]) => s.state)).toEqual(["off"]);
    expect(changes).toHaveLength(1);
  });

  it("makes room by forgetting the oldest entity", () => {
    const memory = new EntityMemory(undefined, 2);
    memory.settle(memory.hold(delta({ a: state("1", 1), b: state("1", 1) })), true);
    memory.settle(memory.hold(delta({ b: state("2", 2), c: state("1", 2) })), true);
    expect([...memory.entries()].map(([id]) => id)).toEqual(["b", "c"]);
  });
});

describe("in-flight count", () => {
  afterEach(() => vi.useRealTimers());

  it("resolves drained when the last operation leaves, with no timer running", async () => {
    vi.useFakeTimers();
    const inFlight = new InFlight();
    await inFlight.drained();
    inFlight.enter();
    inFlight.enter();
    let drained = false;
    void inFlight.drained().then(() => {
      drained = true;
    });
    inFlight.leave();
    await flushMicrotasks();
    expect(drained).toBe(false);
    inFlight.leave();
    await flushMicrotasks();
    expect(drained).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
