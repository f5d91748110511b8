/**
 * A local stand-in for Home Assistant's WebSocket API, enough of it to exercise the client:
 * auth handshake, `subscribe_events`, `get_states`, `get_config`, the registry lists,
 * `history/history_during_period`, `ping`, and dropping connections on demand. The real Home Assistant
 * is exercised by the end-to-end suite (test/e2e/homeassistant.test.ts).
 */
import { type WebSocket, WebSocketServer } from "ws";

export interface FakeState {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
  last_changed: string;
  last_updated: string;
}

export class FakeHomeAssistant {
  /** Every `subscribe_events` received, across connections. */
  subscriptions = 0;
  /** Every `get_states` received, across connections. */
  stateRequests = 0;
  /** Access tokens clients presented, in order. */
  readonly presentedTokens: string[] = [];
  /** When false, pings go unanswered (a half-open connection). */
  answerPings = true;
  /** When false, connections are accepted and never greeted (Home Assistant still starting). */
  greet = true;
  /** Connections accepted, greeted or not. */
  connections = 0;
  states: FakeState[] = [];
  /** What `get_config` answers. */
  config: Record<string, unknown> = { time_zone: "Europe/Berlin", version: "2024.3.3" };
  /** Registry lists, as `config/*_registry/list` answer them. */
  registries: { areas: unknown[]; devices: unknown[]; entities: unknown[] } = { areas: [], devices: [], entities: [] };
  /** The recorder: per entity, compressed states `{ s, a, lu, lc? }` (times in float seconds). */
  history: Record<string, { s: string; a?: Record<string, unknown>; lu: number; lc?: number }[]> = {};
  /** Every history request received. */
  readonly historyRequests: Record<string, any>[] = [];
  /** When set, the WebSocket upgrade is answered with this HTTP status (403: a banned host). */
  rejectUpgradeWith: number | undefined;
  private readonly server: WebSocketServer;
  private readonly subscribed = new Map<WebSocket, number>();
  private readonly registrySubscribers = new Map<string, Map<WebSocket, number>>();

  private constructor(
    server: WebSocketServer,
    readonly token: string,
  ) {
    this.server = server;
    server.on("connection", (socket) => this.onConnection(socket));
  }

  static async start(token: string): Promise<FakeHomeAssistant> {
    let fake: FakeHomeAssistant | undefined;
    const server = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      path: "/api/websocket",
      verifyClient: (_info, callback) =>
        fake?.rejectUpgradeWith ? callback(false, fake.rejectUpgradeWith) : callback(true),
    });
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    fake = new FakeHomeAssistant(server, token);
    return fake;
  }

  /** Base URL, as a user would configure it (`http://host:port`). */
  get url(): string {
    const address = this.server.address();
    if (typeof address !== "object" || address === null) throw new Error("not listening");
    return `http://127.0.0.1:${address.port}`;
  }

  /** Connections currently subscribed to `state_changed`. */
  get subscribers(): number {
    return this.subscribed.size;
  }

  /** Sends a `state_changed` event to every subscriber. */
  /** Sends `text` as it is to every subscribed connection (malformed messages). */
  sendRaw(text: string): void {
    for (const socket of this.subscribed.keys()) socket.send(text);
  }

  emit(data: { entity_id: string; old_state: FakeState | null; new_state: FakeState | null }): void {
    for (const [socket, id] of this.subscribed) {
      socket.send(
        JSON.stringify({
          id,
          type: "event",
          event: { event_type: "state_changed", data, origin: "LOCAL", time_fired: new Date().toISOString() },
        }),
      );
    }
  }

  /** Sends `<kind>_registry_updated` to its subscribers (after changing `registries`). */
  emitRegistryUpdate(
    eventType: "area_registry_updated" | "device_registry_updated" | "entity_registry_updated",
    data: Record<string, unknown> = { action: "update" },
  ): void {
    for (const [socket, id] of this.registrySubscribers.get(eventType) ?? []) {
      socket.send(
        JSON.stringify({
          id,
          type: "event",
          event: { event_type: eventType, data, origin: "LOCAL", time_fired: new Date().toISOString() },
        }),
      );
    }
  }

  /** Kills every connection without a close handshake, as a Home Assistant restart or a network cut would. */
  dropAll(): void {
    for (const socket of this.server.clients) socket.terminate();
    this.subscribed.clear();
    this.registrySubscribers.clear();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: WebSocket): void {
    this.connections += 1;
    if (!this.greet) return;
    socket.send(JSON.stringify({ type: "auth_required", ha_version: "2026.11.0" }));
    let authenticated = false;
    socket.on("close", () => {
      this.subscribed.delete(socket);
      for (const subscribers of this.registrySubscribers.values()) subscribers.delete(socket);
    });
    socket.on("message", (raw) => {
      const message = JSON.parse(raw.toString()) as {
        id?: number;
        type: string;
        access_token?: string;
        event_type?: string;
        [key: string]: unknown;
      };
      const answer = (result: unknown) =>
        socket.send(JSON.stringify({ id: message.id, type: "result", success: true, result }));
      if (!authenticated) {
        if (message.type !== "auth") return socket.close();
        this.presentedTokens.push(message.access_token ?? "");
        if (message.access_token !== this.token) {
          socket.send(JSON.stringify({ type: "auth_invalid", message: "Invalid access token or password" }));
          return socket.close();
        }
        authenticated = true;
        socket.send(JSON.stringify({ type: "auth_ok", ha_version: "2026.11.0" }));
        return;
      }
      switch (message.type) {
        case "subscribe_events":
          if (message.event_type === "state_changed") {
            this.subscriptions += 1;
            this.subscribed.set(socket, message.id!);
          } else {
            const subscribers = this.registrySubscribers.get(message.event_type!) ?? new Map<WebSocket, number>();
            subscribers.set(socket, message.id!);
            this.registrySubscribers.set(message.event_type!, subscribers);
          }
          answer(null);
          break;
        case "get_states":
          this.stateRequests += 1;
          answer(this.states);
          break;
        case "get_config":
          answer(this.config);
          break;
        case "config/area_registry/list":
          answer(this.registries.areas);
          break;
        case "config/device_registry/list":
          answer(this.registries.devices);
          break;
        case "config/entity_registry/list":
          answer(this.registries.entities);
          break;
        case "history/history_during_period": {
          this.historyRequests.push(message);
          const start = Date.parse(message.start_time as string) / 1000;
          const end = Date.parse(message.end_time as string) / 1000;
          const result: Record<string, unknown[]> = {};
          for (const id of message.entity_ids as string[]) {
            const states = (this.history[id] ?? []).filter((state) => state.lu >= start && state.lu <= end);
            if (states.length > 0) result[id] = states;
          }
          answer(result);
          break;
        }
        case "ping":
          if (this.answerPings) socket.send(JSON.stringify({ id: message.id, type: "pong" }));
          break;
      }
    });
  }
}

/** A Home Assistant state object with the timestamps Home Assistant sets. */
export function haState(
  entityId: string,
  state: string,
  attributes: Record<string, unknown> = {},
  at = new Date(),
): FakeState {
  return { entity_id: entityId, state, attributes, last_changed: at.toISOString(), last_updated: at.toISOString() };
}
