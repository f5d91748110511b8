import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HomeAssistantSource, websocketUrl } from "../src/sources/homeassistant";
import type { EventSink } from "../src/sources/sink";
import { FakeHomeAssistant, haState } from "./fake-homeassistant";
import { eventually } from "./helpers/eventually";
import { memoryLogger } from "./helpers/setup";

const TOKEN = "ha-long-lived-token-5f0c9e";

/** A sink that accepts everything and remembers what it was given. */
function recordingSink(): EventSink & { events: Record<string, any>[]; sources: string[] } {
  const events: Record<string, any>[] = [];
  const sources: string[] = [];
  return {
    events,
    sources,
    async submit(raw, source) {
      events.push(...(raw as Record<string, any>[]));
      sources.push(source);
      return raw.map((_, index) => ({ index, status: "accepted" as const }));
    },
  };
}

describe("Home Assistant WebSocket source", () => {
  let ha: FakeHomeAssistant;
  let source: HomeAssistantSource | undefined;

  beforeEach(async () => {
    ha = await FakeHomeAssistant.start(TOKEN);
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await ha.close();
  });

  function connect(sink: EventSink, overrides: Partial<ConstructorParameters<typeof HomeAssistantSource>[0]> = {}) {
    const { logger, lines } = memoryLogger();
    source = new HomeAssistantSource({
      url: ha.url,
      token: TOKEN,
      snapshot: false,
      sink,
      logger,
      reconnect: { baseMs: 10, maxMs: 50 },
      ...overrides,
    });
    source.start();
    return { source, lines };
  }

  it("authenticates with the token, subscribes to state_changed and submits events", async () => {
    const sink = recordingSink();
    const { source } = connect(sink);
    await eventually(() => expect(source.status().details?.state).toBe("subscribed"));
    expect(ha.presentedTokens).toEqual([TOKEN]);
    expect(source.status().healthy).toBe(true);

    const old = haState("light.kitchen", "off");
    const next = haState("light.kitchen", "on", { friendly_name: "Kitchen" });
    ha.emit({ entity_id: "light.kitchen", old_state: old, new_state: next });
    await eventually(() => expect(sink.events).toHaveLength(1));
    expect(sink.events[0]).toEqual({ entity_id: "light.kitchen", old_state: old, new_state: next });
    expect(sink.sources).toEqual(["websocket"]);
    expect(source.status().details?.eventsReceived).toBe(1);
  });

  it("reports a rejected token, keeps retrying and never logs the token", async () => {
    const { source, lines } = connect(recordingSink(), { token: "wrong-token-value" });
    await eventually(() => expect(ha.presentedTokens.length).toBeGreaterThanOrEqual(2));
    const status = source.status();
    expect(status.healthy).toBe(false);
    expect(status.lastError).toMatch(/authentication rejected: Invalid access token/);
    expect(ha.subscriptions).toBe(0);
    expect(lines.join("")).toContain("rejected the access token");
    expect(lines.join("")).not.toContain("wrong-token-value");
  });

  it("reconnects after a drop and resubscribes, and events flow again", async () => {
    const sink = recordingSink();
    const { source } = connect(sink);
    await eventually(() => expect(ha.subscribers).toBe(1));
    ha.dropAll();
    await eventually(() => expect(ha.subscriptions).toBe(2));
    await eventually(() => expect(source.status().details?.state).toBe("subscribed"));
    expect(source.status().details?.reconnects).toBe(1);

    ha.emit({ entity_id: "sensor.power", old_state: null, new_state: haState("sensor.power", "12.5") });
    await eventually(() => expect(sink.events).toHaveLength(1));
    expect(sink.events[0].new_state.state).toBe("12.5");
  });

  it("drops a connection whose pings go unanswered and reconnects", async () => {
    ha.answerPings = false;
    const { source } = connect(recordingSink(), { heartbeatIntervalMs: 20 });
    await eventually(() => expect(ha.subscriptions).toBeGreaterThanOrEqual(2));
    expect(source.status().details?.reconnects).toBeGreaterThanOrEqual(1);
  });

  it("gives up on a connection that is never greeted and tries again", async () => {
    ha.greet = false;
    const { source } = connect(recordingSink(), { heartbeatIntervalMs: 100 });
    await eventually(() => expect(ha.connections).toBeGreaterThanOrEqual(2));
    expect(source.status().lastError).toBe("no subscription within the handshake timeout");
    ha.greet = true;
    await eventually(() => expect(source.status().healthy).toBe(true));
  });

  it("submits a snapshot of current states after connecting", async () => {
    ha.states = [haState("sensor.temperature", "21.5", { unit_of_measurement: "°C" }), haState("lock.front_door", "locked")];
    const sink = recordingSink();
    connect(sink, { snapshot: true });
    await eventually(() => expect(sink.events).toHaveLength(2));
    expect(sink.events.map((e) => [e.entity_id, e.old_state, e.new_state.state])).toEqual([
      ["sensor.temperature", null, "21.5"],
      ["lock.front_door", null, "locked"],
    ]);
    expect(ha.stateRequests).toBe(1);
  });

  it("submits the weather entity's current state on connect, without a full snapshot", async () => {
    ha.states = [haState("sensor.power", "3"), haState("weather.home", "cloudy", { temperature: 11.5, humidity: 80, pressure: 1009 })];
    const sink = recordingSink();
    connect(sink, { weatherEntity: "weather.home" });
    await eventually(() => expect(sink.events).toHaveLength(1));
    expect(sink.events[0]).toEqual({ entity_id: "weather.home", old_state: null, new_state: ha.states[1] });
  });

  it("waits on stop until submitted events are durable", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const durable: unknown[] = [];
    const sink: EventSink = {
      async submit(raw) {
        await gate;
        durable.push(...raw);
        return raw.map((_, index) => ({ index, status: "accepted" as const }));
      },
    };
    const { source } = connect(sink);
    await eventually(() => expect(ha.subscribers).toBe(1));
    ha.emit({ entity_id: "switch.fan", old_state: null, new_state: haState("switch.fan", "on") });
    await eventually(() => expect(source.status().details?.eventsReceived).toBe(1));
    const stopped = source.stop();
    release();
    await stopped;
    expect(durable).toHaveLength(1);
    expect(source.status().details?.state).toBe("stopped");
  });
});

describe("Home Assistant helpers", () => {
  it.each([
    ["http://homeassistant.local:8123", "ws://homeassistant.local:8123/api/websocket"],
    ["https://ha.example.org", "wss://ha.example.org/api/websocket"],
    ["ws://10.0.0.2:8123/api/websocket", "ws://10.0.0.2:8123/api/websocket"],
    ["https://example.org/ha/api/websocket", "wss://example.org/ha/api/websocket"],
  ])("websocketUrl(%s) = %s", (input, expected) => {
    expect(websocketUrl(input)).toBe(expected);
  });
});
