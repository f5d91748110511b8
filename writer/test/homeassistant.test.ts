import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { websocketUrl } from "../src/sources/haConnection";
import { DEFAULT_RECONNECT, reconnectDelayMs } from "../src/sources/haReconnect";
import { HomeAssistantSource } from "../src/sources/homeassistant";
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
      reconnect: { fastMs: 10, fastForMs: 60_000, maxMs: 50 },
      authRetryMs: 50,
      recorderCommitMs: 0,
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

  it("ignores messages that are not JSON objects or lack a usable id, with a warning, and keeps the connection", async () => {
    const sink = recordingSink();
    const { source, lines } = connect(sink);
    await eventually(() => expect(source.status().details?.state).toBe("subscribed"));
    for (const text of [
      "null",
      "5",
      "[]",
      '"event"',
      "{not json",
      '{"type":"event","id":"1","event":{"data":{}}}',
      '{"type":"result","id":null}',
    ])
      ha.sendRaw(text);
    ha.emit({ entity_id: "sensor.power", old_state: null, new_state: haState("sensor.power", "3") });
    await eventually(() => expect(sink.events).toHaveLength(1));
    expect(source.status().details?.state).toBe("subscribed");
    expect(lines.filter((line) => line.includes("not a JSON object"))).toHaveLength(4);
    expect(lines.filter((line) => line.includes("not JSON;"))).toHaveLength(1);
  });

  it("after a rejected token waits, tries once more, then stops trying it (Home Assistant's IP ban counts every failure)", async () => {
    const { source, lines } = connect(recordingSink(), { token: "wrong-token-value", authRetryMs: 150 });
    await eventually(() => expect(source.status().details?.authRejected).toBe(true));
    expect(ha.presentedTokens).toHaveLength(1);
    const first = source.status();
    expect(first.healthy).toBe(false);
    expect(first.details?.authRejected).toBe(true);
    expect(first.message).toMatch(
      /rejected the access token: Invalid access token or password; next login attempt at .* \(at most one failed login per 0 s\)/,
    );
    expect(source.authProblem()).toBe(first.message);
    await eventually(() => expect(source.status().details?.state).toBe("unauthorized"));
    expect(ha.presentedTokens).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(ha.presentedTokens).toHaveLength(2);
    expect(source.status().message).toMatch(
      /rejected 2 times and is not tried again .*restart the writer with a valid token/,
    );
    expect(ha.subscriptions).toBe(0);
    const errors = lines.filter((line) => line.includes('"level":50'));
    expect(errors).toHaveLength(2);
    expect(lines.join("")).not.toContain("wrong-token-value");
  });

  it("keeps naming the rejected token while it tries the next login", async () => {
    const { source } = connect(recordingSink(), { token: "wrong-token-value", authRetryMs: 150 });
    await eventually(() => expect(source.status().details?.authRejected).toBe(true));
    ha.greet = false; // the next connection is accepted and never answered: the login is under way
    await eventually(() => expect(ha.connections).toBe(2));
    const during = source.status();
    expect(during.healthy).toBe(false);
    expect(during.message).toMatch(/rejected the access token: Invalid access token or password; trying a login again/);
    expect(source.authProblem()).toBe(during.message);
  });

  it("logs in with a fixed token from the token file without a restart", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ha-token-"));
    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, "wrong-token-value\n");
    const { source } = connect(recordingSink(), { token: undefined, tokenFile, authRetryMs: 50 });
    await eventually(() => expect(source.status().details?.state).toBe("unauthorized"));
    expect(source.status().message).toMatch(/put a valid token into the token file/);
    await writeFile(tokenFile, `${TOKEN}\n`);
    await eventually(() => expect(source.status().healthy).toBe(true));
    expect(ha.presentedTokens).toEqual(["wrong-token-value", "wrong-token-value", TOKEN]);
    expect(source.authProblem()).toBeUndefined();
    await rm(dir, { recursive: true, force: true });
  });

  it("treats a 403 to the connection (a banned host) as an authentication problem, not a reason to hammer", async () => {
    ha.rejectUpgradeWith = 403;
    const { source } = connect(recordingSink(), { authRetryMs: 100_000 });
    await eventually(() => expect(source.status().details?.authRejected).toBe(true));
    expect(source.status().message).toMatch(/403 Forbidden to the connection: this host may be banned/);
    expect(ha.connections).toBe(0);
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
    ha.states = [
      haState("sensor.temperature", "21.5", { unit_of_measurement: "°C" }),
      haState("lock.front_door", "locked"),
    ];
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
    ha.states = [
      haState("sensor.power", "3"),
      haState("weather.home", "cloudy", { temperature: 11.5, humidity: 80, pressure: 1009 }),
    ];
    const sink = recordingSink();
    connect(sink, { weatherEntity: "weather.home" });
    await eventually(() => expect(sink.events).toHaveLength(1));
    expect(sink.events[0]).toEqual({ entity_id: "weather.home", old_state: null, new_state: ha.states[1] });
  });

  it("adds area, device name and integration from the registries and follows their updates", async () => {
    ha.registries = {
      areas: [
        { area_id: "kitchen", name: "Kitchen" },
        { area_id: "hall", name: "Hall" },
      ],
      devices: [{ id: "d1", area_id: "kitchen", name: "Ceiling light", name_by_user: null }],
      entities: [
        { entity_id: "light.ceiling", device_id: "d1", area_id: null, platform: "hue" },
        { entity_id: "sensor.outside", device_id: null, area_id: "hall", platform: "template" },
      ],
    };
    const sink = recordingSink();
    const { source } = connect(sink);
    await eventually(() => expect(source.status().details?.state).toBe("subscribed"));
    ha.emit({
      entity_id: "light.ceiling",
      old_state: null,
      new_state: haState("light.ceiling", "on", { friendly_name: "Ceiling", area: "stray" }),
    });
    ha.emit({ entity_id: "sensor.outside", old_state: null, new_state: haState("sensor.outside", "3") });
    ha.emit({ entity_id: "sensor.unregistered", old_state: null, new_state: haState("sensor.unregistered", "1") });
    await eventually(() => expect(sink.events).toHaveLength(3));
    expect(sink.events.map((e) => e.new_state.attributes)).toEqual([
      { friendly_name: "Ceiling", area: "Kitchen", device_name: "Ceiling light", integration: "hue" },
      { area: "Hall", integration: "template" },
      {},
    ]);

    // The user renames the device and moves it: the next states carry the new names.
    ha.registries.devices = [{ id: "d1", area_id: "hall", name: "Ceiling light", name_by_user: "Big lamp" }];
    ha.emitRegistryUpdate("device_registry_updated", { action: "update", device_id: "d1" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    ha.emit({ entity_id: "light.ceiling", old_state: null, new_state: haState("light.ceiling", "off") });
    await eventually(() => expect(sink.events).toHaveLength(4));
    expect(sink.events[3].new_state.attributes).toEqual({ area: "Hall", device_name: "Big lamp", integration: "hue" });
  });

  it("after a reconnect submits the recorded changes it missed, in time order, then the snapshot, then live events", async () => {
    ha.states = [haState("sensor.power", "1", {}, new Date("2026-01-01T00:00:00Z"))];
    const sink = recordingSink();
    const { source } = connect(sink, { snapshot: true });
    await eventually(() => expect(source.status().details?.state).toBe("subscribed"));
    await eventually(() => expect(sink.events).toHaveLength(1));
    expect(ha.historyRequests).toHaveLength(0);

    ha.dropAll();
    const now = Date.now() / 1000;
    ha.history = {
      "sensor.power": [
        { s: "2", lu: now - 0.5 },
        { s: "3", a: { unit_of_measurement: "W" }, lu: now + 0.000001 },
      ],
      "weather.home": [{ s: "rainy", lu: now - 0.5 }],
    };
    ha.states = [haState("sensor.power", "3", {}, new Date()), haState("weather.home", "rainy")];
    await eventually(() => expect(ha.subscriptions).toBe(2));
    await eventually(() => expect(sink.events.length).toBeGreaterThanOrEqual(6));
    expect(ha.historyRequests).toHaveLength(1);
    expect(ha.historyRequests[0]).toMatchObject({
      entity_ids: ["sensor.power", "weather.home"],
      significant_changes_only: false,
      include_start_time_state: false,
    });
    const order = sink.events.slice(1).map((e) => `${e.entity_id}=${e.new_state.state}`);
    expect(order).toEqual([
      "weather.home=rainy",
      "sensor.power=2",
      "sensor.power=3",
      "weather.home=rainy",
      "sensor.power=3",
    ]);
    expect(sink.events[3].new_state.last_updated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    expect(source.status().details?.backfilledEvents).toBe(3);
  });

  it("keeps registries and the time it last heard from Home Assistant in its state file, for the next start", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ha-state-"));
    const stateFile = join(dir, "homeassistant.json");
    ha.registries = {
      areas: [{ area_id: "a", name: "Attic" }],
      devices: [],
      entities: [{ entity_id: "sensor.t", area_id: "a", platform: "mqtt" }],
    };
    ha.states = [haState("sensor.t", "1")];
    const first = connect(recordingSink(), { stateFile }).source;
    await eventually(() => expect(first.status().details?.state).toBe("subscribed"));
    await first.stop();
    const saved = JSON.parse(await readFile(stateFile, "utf8"));
    expect(saved.registries.areas).toEqual([{ area_id: "a", name: "Attic" }]);
    expect(saved.lastHeardUs).toBeGreaterThan(Date.now() * 1000 - 60_000_000);

    // A new writer process backfills from there, and enriches with the cached registries meanwhile.
    const sink = recordingSink();
    const second = connect(sink, { stateFile }).source;
    await eventually(() => expect(second.status().details?.state).toBe("subscribed"));
    expect(ha.historyRequests).toHaveLength(1);
    expect(Date.parse(ha.historyRequests[0]!.start_time) * 1000).toBeLessThan(saved.lastHeardUs);
    await rm(dir, { recursive: true, force: true });
  });

  it("reports Home Assistant's time zone", async () => {
    const zones: string[] = [];
    const { source } = connect(recordingSink(), { onTimeZone: (zone) => zones.push(zone) });
    await eventually(() => expect(source.status().details?.state).toBe("subscribed"));
    expect(zones).toEqual(["Europe/Berlin"]);
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
  it("reconnects within a second for two minutes of an outage, then slows to 30 s", () => {
    expect(reconnectDelayMs(1, 0, DEFAULT_RECONNECT)).toBe(250);
    expect(reconnectDelayMs(5, 20_000, DEFAULT_RECONNECT)).toBe(1000);
    expect(reconnectDelayMs(90, 119_000, DEFAULT_RECONNECT)).toBe(1000);
    expect(reconnectDelayMs(130, 125_000, DEFAULT_RECONNECT)).toBeGreaterThan(1000);
    expect(reconnectDelayMs(500, 3_600_000, DEFAULT_RECONNECT)).toBe(30_000);
  });

  it.each([
    ["http://homeassistant.local:8123", "ws://homeassistant.local:8123/api/websocket"],
    ["https://ha.example.org", "wss://ha.example.org/api/websocket"],
    ["ws://10.0.0.2:8123/api/websocket", "ws://10.0.0.2:8123/api/websocket"],
    ["https://example.org/ha/api/websocket", "wss://example.org/ha/api/websocket"],
  ])("websocketUrl(%s) = %s", (input, expected) => {
    expect(websocketUrl(input)).toBe(expected);
  });
});
