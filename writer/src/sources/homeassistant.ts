/**
 * Home Assistant WebSocket source: authenticates with a long-lived token, subscribes to
 * `state_changed`, and reconnects with exponential backoff and jitter after a drop, resubscribing
 * each time. The weather entity's current state is submitted on every connect (the pipeline keeps the
 * weather context), so events get weather before the entity next changes.
 *
 * Protocol: https://developers.home-assistant.io/docs/api/websocket
 */
import WebSocket from "ws";
import { DEFAULT_RETRY, retryDelayMs, type RetryPolicy } from "../delivery";
import type { Logger } from "../logger";
import type { ComponentStatus } from "../pipeline";
import type { EventSink } from "./sink";

/** Connection state of the client, as `/status` reports it. */
export type ConnectionState = "idle" | "connecting" | "authenticating" | "subscribed" | "backoff" | "stopped";

/** Settings of the Home Assistant source. */
export interface HomeAssistantSourceOptions {
  /** Home Assistant base URL (`http://homeassistant.local:8123`) or its WebSocket endpoint URL. */
  url: string;
  /** Long-lived access token. */
  token: string;
  /** Weather entity (`weather.home`) whose current state is submitted on connect even without a snapshot. */
  weatherEntity?: string;
  /** After every (re)connect, submit every current state, so changes made while disconnected are kept. */
  snapshot: boolean;
  /** Where events go. */
  sink: EventSink;
  /** Logger; the token is never passed to it. */
  logger: Logger;
  /** Reconnect timing: the delivery's backoff with jitter (1 s doubling to 60 s) unless given. */
  reconnect?: RetryPolicy;
  /**
   * How often to ping Home Assistant. A pong missing for this long drops the connection, and so does a
   * handshake (auth and subscription) not done within it: a Home Assistant that is still starting may
   * accept the socket and say nothing.
   */
  heartbeatIntervalMs?: number;
}

/** Source name passed to the sink, so metrics and logs tell the sources apart. */
export const HOME_ASSISTANT_SOURCE = "websocket";

const SUBSCRIBE_ID = 1;
const GET_STATES_ID = 2;
/** Events collected in one I/O turn are submitted together, at most this many per call. */
const MAX_EVENTS_PER_SUBMIT = 1000;
/** Submissions awaiting durability before the socket is paused (backpressure on Home Assistant). */
const MAX_SUBMITS_IN_FLIGHT = 4;

/** Converts `http(s)://host:port` into Home Assistant's WebSocket endpoint; leaves ws(s) URLs alone. */
export function websocketUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol === "http:" || parsed.protocol === "https:") {
    parsed.protocol = parsed.protocol === "https:" ? "wss:" : "ws:";
    if (parsed.pathname === "/" || parsed.pathname === "") parsed.pathname = "/api/websocket";
  }
  return parsed.toString();
}

interface HaState {
  entity_id: string;
  state: string;
  attributes?: Record<string, unknown>;
  last_changed?: string;
  last_updated?: string;
}

/** The Home Assistant WebSocket client. `start()` returns at once; connection happens in the background. */
export class HomeAssistantSource {
  private socket: WebSocket | undefined;
  private state: ConnectionState = "idle";
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  private nextId = 3;
  private pending: unknown[] = [];
  private flushScheduled = false;
  private submitsInFlight = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private subscribedSince: string | undefined;
  private lastEventAt: string | undefined;
  private eventsReceived = 0;
  private reconnects = 0;
  private lastError: string | undefined;
  private lastErrorAt: string | undefined;
  private readonly reconnectPolicy: RetryPolicy;
  private readonly heartbeatMs: number;

  constructor(private readonly options: HomeAssistantSourceOptions) {
    this.reconnectPolicy = options.reconnect ?? DEFAULT_RETRY;
    this.heartbeatMs = options.heartbeatIntervalMs ?? 30_000;
  }

  /** Begins connecting; never throws for connection problems (they are retried and reported in status). */
  start(): void {
    if (this.state !== "idle") return;
    this.connect();
  }

  /** Closes the connection and waits until every event already received is durable in the spool. */
  async stop(): Promise<void> {
    this.setState("stopped");
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    this.socket?.close(1000);
    this.socket = undefined;
    this.flushPending();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Health as `/status` reports it: healthy while subscribed to `state_changed`. */
  status(): ComponentStatus {
    const subscribed = this.state === "subscribed";
    return {
      name: "websocket_client",
      healthy: subscribed,
      message: subscribed ? `subscribed since ${this.subscribedSince}` : `not subscribed (${this.state})`,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      lastSuccessAt: this.lastEventAt,
      details: { state: this.state, eventsReceived: this.eventsReceived, reconnects: this.reconnects },
    };
  }

  private recordError(message: string): void {
    this.lastError = message;
    this.lastErrorAt = new Date().toISOString();
  }

  private setState(state: ConnectionState): void {
    this.state = state;
  }

  private connect(): void {
    this.setState("connecting");
    const url = websocketUrl(this.options.url);
    const socket = new WebSocket(url, { handshakeTimeout: this.heartbeatMs });
    this.socket = socket;
    this.heartbeatTimer = setTimeout(() => {
      this.recordError("no subscription within the handshake timeout");
      socket.terminate();
    }, this.heartbeatMs);
    socket.on("open", () => this.setState("authenticating"));
    socket.on("message", (data) => this.onMessage(socket, data.toString()));
    socket.on("error", (error) => {
      this.recordError(error.message);
    });
    socket.on("close", (code) => this.onClose(socket, code));
  }

  private onClose(socket: WebSocket, code: number): void {
    if (socket !== this.socket) return;
    clearInterval(this.heartbeatTimer);
    this.socket = undefined;
    this.subscribedSince = undefined;
    this.flushPending();
    if (this.state === "stopped") return;
    this.reconnects += 1;
    this.attempt += 1;
    const delay = retryDelayMs(this.attempt, this.reconnectPolicy);
    this.options.logger.warn(
      { code, reason: this.lastError, retryInMs: Math.round(delay), attempt: this.attempt },
      "Home Assistant connection lost; reconnecting",
    );
    this.setState("backoff");
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private send(socket: WebSocket, message: Record<string, unknown>): void {
    socket.send(JSON.stringify(message));
  }

  private onMessage(socket: WebSocket, text: string): void {
    if (this.state === "stopped") return;
    let message: Record<string, any>;
    try {
      message = JSON.parse(text);
    } catch {
      this.options.logger.warn("Home Assistant sent a message that is not JSON; ignored");
      return;
    }
    switch (message.type) {
      case "auth_required":
        this.send(socket, { type: "auth", access_token: this.options.token });
        return;
      case "auth_ok":
        this.send(socket, { id: SUBSCRIBE_ID, type: "subscribe_events", event_type: "state_changed" });
        if (this.options.snapshot || this.options.weatherEntity) this.send(socket, { id: GET_STATES_ID, type: "get_states" });
        return;
      case "auth_invalid":
        // A wrong token does not fix itself, but Home Assistant may be mid-restart with its auth store
        // not loaded yet; keep retrying at the backoff pace and say why in the status.
        this.recordError(`authentication rejected: ${String(message.message ?? "auth_invalid")}`);
        this.options.logger.error({ reason: message.message }, "Home Assistant rejected the access token");
        socket.close(4001);
        return;
      case "result":
        this.onResult(socket, message);
        return;
      case "event":
        if (message.id === SUBSCRIBE_ID) this.onStateChanged(message.event?.data);
        return;
      case "pong":
        this.awaitingPong = false;
        return;
    }
  }

  private onResult(socket: WebSocket, message: Record<string, any>): void {
    if (message.id === SUBSCRIBE_ID) {
      if (!message.success) {
        this.recordError(`subscribe_events failed: ${JSON.stringify(message.error)}`);
        this.options.logger.error({ error: message.error }, "Home Assistant refused the subscription");
        socket.close(4002);
        return;
      }
      this.attempt = 0;
      this.subscribedSince = new Date().toISOString();
      this.setState("subscribed");
      this.startHeartbeat(socket);
      this.options.logger.info({ url: websocketUrl(this.options.url) }, "subscribed to Home Assistant state changes");
    } else if (message.id === GET_STATES_ID && message.success && Array.isArray(message.result)) {
      this.onStates(message.result as HaState[]);
    }
  }

  private onStates(states: HaState[]): void {
    const wanted = this.options.snapshot ? states : states.filter((state) => state?.entity_id === this.options.weatherEntity);
    for (const state of wanted) {
      if (typeof state?.entity_id === "string") this.enqueue({ entity_id: state.entity_id, old_state: null, new_state: state });
    }
    if (this.options.snapshot) this.options.logger.info({ states: states.length }, "submitted a snapshot of current Home Assistant states");
  }

  private onStateChanged(data: object | undefined): void {
    if (!data) return;
    this.eventsReceived += 1;
    this.lastEventAt = new Date().toISOString();
    this.enqueue(data);
  }

  private enqueue(data: object): void {
    this.pending.push(data);
    if (this.pending.length >= MAX_EVENTS_PER_SUBMIT) this.flushPending();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushPending());
    }
  }

  private flushPending(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    this.submitsInFlight += 1;
    if (this.submitsInFlight >= MAX_SUBMITS_IN_FLIGHT) this.socket?.pause();
    const submission = this.options.sink
      .submit(events, HOME_ASSISTANT_SOURCE)
      .then(
        () => undefined,
        (error: Error) => {
          this.options.logger.error(
            { err: error, events: events.length },
            "could not hand Home Assistant events to the spool; they are lost",
          );
        },
      )
      .finally(() => {
        this.inFlight.delete(submission);
        this.submitsInFlight -= 1;
        if (this.submitsInFlight < MAX_SUBMITS_IN_FLIGHT) this.socket?.resume();
      });
    this.inFlight.add(submission);
  }

  private startHeartbeat(socket: WebSocket): void {
    clearTimeout(this.heartbeatTimer);
    this.awaitingPong = false;
    this.heartbeatTimer = setInterval(() => {
      if (this.awaitingPong) {
        this.recordError("no pong from Home Assistant");
        socket.terminate();
        return;
      }
      this.awaitingPong = true;
      this.send(socket, { id: this.nextId++, type: "ping" });
    }, this.heartbeatMs);
  }
}
