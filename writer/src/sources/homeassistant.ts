/**
 * Home Assistant WebSocket source. After authenticating with a long-lived token it:
 * 1. subscribes to `state_changed` and to the three `*_registry_updated` events (live events are held
 *    back until step 4, so nothing older is written after something newer);
 * 2. reads `get_config` (the time zone, unless one is configured), the area, device and entity
 *    registries (see `haRegistries.ts`) and `get_states`;
 * 3. when it was subscribed before (in this process or, through the state file, an earlier one), asks
 *    the recorder for every change since it last heard from Home Assistant (`haHistory.ts`) and submits
 *    them in time order. It asks only after the recorder's commit interval has passed: a change made
 *    just before the subscription is neither a live event nor, until the recorder commits it, in the
 *    history (Home Assistant's own `history/stream` waits for the recorder in the same way);
 * 4. submits the snapshot of current states (weather entities first) and then the held-back live
 *    events, and from then on every event as it comes.
 * Every state is submitted with the registries' `area`, `device_name` and `integration` in its
 * attributes. The pipeline treats a state it has already written as a repeat, so the overlap of the
 * history, the snapshot and live events writes each change once.
 *
 * Reconnecting: every second while Home Assistant is away (it is usually back within a minute, and
 * the writer should be subscribed within about a second of it), then slower after two minutes, up to
 * 30 s. A rejected token is different: Home Assistant counts every failed login of a host and bans the
 * host (every client on it, the user's browser too) at `login_attempts_threshold`, and the count only
 * resets on a successful login or a restart. So after a rejection the source waits `authRetryMs`
 * (5 min by default) before trying again, and after two rejections of the same token it does not try
 * that token again: it waits for the token file to hold another one.
 *
 * Protocol: https://developers.home-assistant.io/docs/api/websocket
 */
import { readFileSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import WebSocket from "ws";
import { z } from "zod";
import type { Logger } from "../logger";
import type { ComponentStatus } from "../pipeline";
import { type HaStateObject, historyEvents, historyRequest, weatherFirst } from "./haHistory";
import { ENRICHMENT_KEYS, REGISTRY_COMMANDS, Registries, type RegistryKind, RegistryListsSchema } from "./haRegistries";
import { type EventSink, HOME_ASSISTANT_SOURCE } from "./sink";

/** Connection state of the client, as `/status` reports it. */
export type ConnectionState =
  | "idle"
  | "connecting"
  | "authenticating"
  | "synchronizing"
  | "subscribed"
  | "backoff"
  | "unauthorized"
  | "stopped";

/** Reconnect timing while Home Assistant is away (not after a rejected token). */
export interface ReconnectPolicy {
  /** Delay between attempts during the first `fastForMs` of an outage. */
  fastMs: number;
  /** How long attempts stay fast. */
  fastForMs: number;
  /** Longest delay after that (the delay doubles from `fastMs`). */
  maxMs: number;
}

/** Every second for two minutes, then doubling to 30 s. */
export const DEFAULT_RECONNECT: ReconnectPolicy = { fastMs: 1000, fastForMs: 120_000, maxMs: 30_000 };

/** The default pause after a rejected token: at most one failed login per five minutes. */
export const DEFAULT_AUTH_RETRY_MS = 5 * 60_000;

/**
 * Rejections of one token after which it is not tried again. Home Assistant's usual
 * `login_attempts_threshold` is 3 and its count never expires while it runs, so a third try could ban
 * the host; two leaves room for one mistake of another client on the host.
 */
export const MAX_REJECTIONS_PER_TOKEN = 2;

/** Settings of the Home Assistant source. */
export interface HomeAssistantSourceOptions {
  /** Home Assistant base URL (`http://homeassistant.local:8123`) or its WebSocket endpoint URL. */
  url: string;
  /** Long-lived access token (unless `tokenFile` is given). */
  token?: string;
  /** A file holding the token, read before every login, so a fixed token is picked up without a restart. */
  tokenFile?: string;
  /** Weather entity (`weather.home`) whose current state is submitted on connect even without a snapshot. */
  weatherEntity?: string;
  /** After every (re)connect, submit every current state. */
  snapshot: boolean;
  /** Where events go. */
  sink: EventSink;
  /** Logger; the token is never passed to it. */
  logger: Logger;
  /** Reconnect timing while Home Assistant is away. */
  reconnect?: ReconnectPolicy;
  /** Pause after a rejected token, in ms (default five minutes). */
  authRetryMs?: number;
  /**
   * Where the source keeps what it needs across restarts of the writer (the registries, and when it
   * last heard from Home Assistant, which starts the history backfill). None: nothing is kept.
   */
  stateFile?: string;
  /**
   * Home Assistant's `recorder: commit_interval` in ms (its default is 5 s): how long the backfill
   * waits after subscribing, so that every change before the subscription is in the history.
   */
  recorderCommitMs?: number;
  /** Called with Home Assistant's time zone from `get_config` (the writer uses it unless one is configured). */
  onTimeZone?: (timeZone: string) => void;
  /**
   * How often to ping Home Assistant. A pong missing for this long drops the connection, and so does a
   * handshake (auth and subscription) not done within it: a Home Assistant that is still starting may
   * accept the socket and say nothing.
   */
  heartbeatIntervalMs?: number;
}

/** Events collected in one I/O turn are submitted together, at most this many per call. */
const MAX_EVENTS_PER_SUBMIT = 1000;
/** Submissions awaiting durability before the socket is paused (backpressure on Home Assistant). */
const MAX_SUBMITS_IN_FLIGHT = 4;
/** The backfill starts this much before the source last heard from Home Assistant (clock skew, batching). */
const BACKFILL_OVERLAP_US = 2_000_000;
/** The backfill asks for the history in windows of this length. */
const BACKFILL_WINDOW_US = 3600 * 1_000_000;
/** Added to the recorder's commit interval before the history is read (the commit itself takes time). */
const RECORDER_COMMIT_MARGIN_MS = 1000;
/** The state file is rewritten at most this often. */
const STATE_SAVE_INTERVAL_MS = 2000;
/** How often a rejected token file is checked for a new token. */
const TOKEN_FILE_POLL_MS = 2000;

/** Converts `http(s)://host:port` into Home Assistant's WebSocket endpoint; leaves ws(s) URLs alone. */
export function websocketUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol === "http:" || parsed.protocol === "https:") {
    parsed.protocol = parsed.protocol === "https:" ? "wss:" : "ws:";
    if (parsed.pathname === "/" || parsed.pathname === "") parsed.pathname = "/api/websocket";
  }
  return parsed.toString();
}

/** The delay before reconnect attempt `attempt` (1-based) of an outage that began `outageMs` ago. */
export function reconnectDelayMs(attempt: number, outageMs: number, policy: ReconnectPolicy): number {
  if (attempt <= 1) return Math.min(policy.fastMs, 250);
  if (outageMs < policy.fastForMs) return policy.fastMs;
  const slowAttempts = Math.max(1, Math.round((outageMs - policy.fastForMs) / policy.fastMs));
  return Math.min(policy.maxMs, policy.fastMs * 2 ** Math.min(slowAttempts, 20));
}

const StateFileSchema = z.object({
  version: z.literal(1),
  lastHeardUs: z.number().optional(),
  registries: RegistryListsSchema.optional(),
});
type StateFile = z.infer<typeof StateFileSchema>;

const ConfigSchema = z.looseObject({ time_zone: z.string().optional() });
const StatesSchema = z.array(z.looseObject({ entity_id: z.string(), state: z.string() }));

type Pending = { resolve: (result: unknown) => void; reject: (error: Error) => void };

/** Why the last connection ended, for the reconnect log line and `/status`. */
type Failure = { kind: "auth"; message: string } | { kind: "connection"; message: string };

/** The Home Assistant WebSocket client. `start()` returns at once; connection happens in the background. */
export class HomeAssistantSource {
  private socket: WebSocket | undefined;
  private state: ConnectionState = "idle";
  private attempt = 0;
  private outageSince: number | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private tokenPollTimer: NodeJS.Timeout | undefined;
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private awaitingPong = false;
  private nextId = 1;
  private readonly requests = new Map<number, Pending>();
  private readonly subscriptions = new Map<number, "state" | RegistryKind>();
  /** Live events held back while the history and the snapshot are submitted. */
  private heldBack: object[] | undefined;
  private pending: object[] = [];
  private flushScheduled = false;
  private submitsInFlight = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private subscribedSince: string | undefined;
  private lastEventAt: string | undefined;
  private eventsReceived = 0;
  private backfilledEvents = 0;
  private reconnects = 0;
  private failure: Failure | undefined;
  private lastError: string | undefined;
  private lastErrorAt: string | undefined;
  private loggedFailure: string | undefined;
  /** The token presented on the current connection. */
  private presentedToken: string | undefined;
  private rejectedToken: string | undefined;
  private rejections = 0;
  private lastRejectionAt: number | undefined;
  private nextAttemptAt: number | undefined;
  /** When the source last heard from Home Assistant while subscribed (µs): the backfill starts there. */
  private lastHeardUs: number | undefined;
  private readonly registries = new Registries();
  private readonly reconnectPolicy: ReconnectPolicy;
  private readonly authRetryMs: number;
  private readonly heartbeatMs: number;

  constructor(private readonly options: HomeAssistantSourceOptions) {
    if (options.token === undefined && options.tokenFile === undefined)
      throw new Error("Home Assistant source: a token or a token file is required");
    this.reconnectPolicy = options.reconnect ?? DEFAULT_RECONNECT;
    this.authRetryMs = options.authRetryMs ?? DEFAULT_AUTH_RETRY_MS;
    this.heartbeatMs = options.heartbeatIntervalMs ?? 30_000;
    this.loadState();
  }

  /** Begins connecting; never throws for connection problems (they are retried and reported in status). */
  start(): void {
    if (this.state !== "idle") return;
    this.connect();
  }

  /** Closes the connection, waits until every event already received is durable, and saves the state file. */
  async stop(): Promise<void> {
    this.setState("stopped");
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.tokenPollTimer);
    this.socket?.close(1000);
    this.socket = undefined;
    this.heldBack = undefined;
    this.flushPending();
    await Promise.allSettled([...this.inFlight]);
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.saveState();
  }

  /** Health as `/status` reports it: healthy while subscribed to `state_changed`. */
  status(): ComponentStatus {
    const subscribed = this.state === "subscribed" || this.state === "synchronizing";
    return {
      name: "websocket_client",
      healthy: subscribed,
      message: this.statusMessage(),
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      lastSuccessAt: this.lastEventAt,
      details: {
        state: this.state,
        eventsReceived: this.eventsReceived,
        backfilledEvents: this.backfilledEvents,
        reconnects: this.reconnects,
        authRejected: this.failure?.kind === "auth" && !subscribed,
        ...(this.nextAttemptAt !== undefined && !subscribed
          ? { nextAttemptAt: new Date(this.nextAttemptAt).toISOString() }
          : {}),
      },
    };
  }

  /** Set when Home Assistant rejects the token: the reason, for `/readyz`. */
  authProblem(): string | undefined {
    return this.status().details?.authRejected ? this.statusMessage() : undefined;
  }

  private statusMessage(): string {
    switch (this.state) {
      case "subscribed":
        return `subscribed since ${this.subscribedSince}`;
      case "synchronizing":
        return `subscribed since ${this.subscribedSince}; writing the changes recorded while disconnected`;
      case "unauthorized":
        return this.options.tokenFile
          ? `${this.failure?.message}; the token was rejected ${this.rejections} times and is not tried again (so Home Assistant does not ban this host): put a valid token into the token file`
          : `${this.failure?.message}; the token was rejected ${this.rejections} times and is not tried again (so Home Assistant does not ban this host): restart the writer with a valid token`;
      case "backoff":
        if (this.failure?.kind === "auth") {
          return `${this.failure.message}; next login attempt at ${new Date(this.nextAttemptAt ?? Date.now()).toISOString()} (at most one failed login per ${Math.round(this.authRetryMs / 1000)} s)`;
        }
        return `not subscribed (reconnecting: ${this.failure?.message ?? "connection lost"})`;
      default:
        // Until a login succeeds, the last answer Home Assistant gave is still the reason for being down.
        if (this.failure?.kind === "auth") return `${this.failure.message}; trying a login again (${this.state})`;
        return `not subscribed (${this.state})`;
    }
  }

  private recordError(message: string): void {
    this.lastError = message;
    this.lastErrorAt = new Date().toISOString();
  }

  private setState(state: ConnectionState): void {
    this.state = state;
  }

  private readToken(): string | undefined {
    if (this.options.tokenFile === undefined) return this.options.token;
    try {
      const token = readFileSync(this.options.tokenFile, "utf8").trim();
      return token === "" ? undefined : token;
    } catch {
      return undefined;
    }
  }

  private connect(): void {
    if (this.state === "stopped") return;
    this.nextAttemptAt = undefined;
    this.presentedToken = this.readToken();
    this.setState("connecting");
    const url = websocketUrl(this.options.url);
    const socket = new WebSocket(url, { handshakeTimeout: this.heartbeatMs });
    this.socket = socket;
    let failure: Failure | undefined;
    const fail = (next: Failure) => {
      failure ??= next;
    };
    this.heartbeatTimer = setTimeout(() => {
      fail({ kind: "connection", message: "no subscription within the handshake timeout" });
      socket.terminate();
    }, this.heartbeatMs);
    socket.on("unexpected-response", (_request, response) => {
      const code = response.statusCode ?? 0;
      fail(
        code === 401 || code === 403
          ? {
              kind: "auth",
              message:
                code === 403
                  ? "Home Assistant answered 403 Forbidden to the connection: this host may be banned (see ip_bans.yaml in its configuration directory)"
                  : "Home Assistant answered 401 Unauthorized to the connection",
            }
          : { kind: "connection", message: `Home Assistant answered HTTP ${code} instead of a WebSocket` },
      );
      response.resume();
      socket.terminate();
    });
    socket.on("open", () => this.setState("authenticating"));
    socket.on("message", (data) => this.onMessage(socket, data.toString(), fail));
    socket.on("error", (error) => fail({ kind: "connection", message: error.message }));
    socket.on("close", (code) =>
      this.onClose(socket, code, failure ?? { kind: "connection", message: `connection closed (code ${code})` }),
    );
  }

  private onClose(socket: WebSocket, code: number, failure: Failure): void {
    if (socket !== this.socket) return;
    clearInterval(this.heartbeatTimer);
    this.socket = undefined;
    for (const pending of this.requests.values()) pending.reject(new Error("connection closed"));
    this.requests.clear();
    this.subscriptions.clear();
    // Live events held back for a backfill that never finished are dropped: `lastHeardUs` has not moved,
    // so the next backfill brings them back, in order behind the changes before them.
    this.heldBack = undefined;
    this.flushPending();
    const wasSubscribed = this.subscribedSince !== undefined;
    this.subscribedSince = undefined;
    if (this.state === "stopped") return;
    this.failure = failure;
    this.recordError(failure.message);
    if (wasSubscribed) {
      this.reconnects += 1;
      this.attempt = 0;
      this.outageSince = Date.now();
      this.scheduleSave();
    }
    this.outageSince ??= Date.now();
    if (failure.kind === "auth") this.onAuthFailure(failure);
    else this.scheduleReconnect(code, failure);
  }

  private scheduleReconnect(code: number, failure: Failure): void {
    this.attempt += 1;
    const delay = reconnectDelayMs(this.attempt, Date.now() - (this.outageSince ?? Date.now()), this.reconnectPolicy);
    // One warning per outage and per change of reason, not one per attempt.
    const fields = { code, reason: failure.message, retryInMs: Math.round(delay), attempt: this.attempt };
    if (this.loggedFailure !== failure.message) {
      this.options.logger.warn(fields, "Home Assistant connection lost; reconnecting");
      this.loggedFailure = failure.message;
    } else {
      this.options.logger.debug(fields, "Home Assistant still unreachable; reconnecting");
    }
    this.setState("backoff");
    this.nextAttemptAt = Date.now() + delay;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private onAuthFailure(failure: Failure): void {
    const token = this.presentedToken;
    if (token !== undefined && token === this.rejectedToken) this.rejections += 1;
    else {
      this.rejectedToken = token;
      this.rejections = 1;
    }
    this.lastRejectionAt = Date.now();
    const exhausted = this.rejections >= MAX_REJECTIONS_PER_TOKEN;
    this.setState(exhausted ? "unauthorized" : "backoff");
    if (this.loggedFailure !== failure.message || exhausted) {
      this.options.logger.error(
        { reason: failure.message, rejections: this.rejections, retryInMs: exhausted ? undefined : this.authRetryMs },
        exhausted
          ? "Home Assistant rejected the access token again; not trying it again, so that Home Assistant does not ban this host"
          : "Home Assistant rejected the access token; trying again later, at most one failed login per authRetry interval",
      );
      this.loggedFailure = failure.message;
    }
    if (!exhausted) {
      this.nextAttemptAt = Date.now() + this.authRetryMs;
      this.reconnectTimer = setTimeout(() => this.connect(), this.authRetryMs);
      return;
    }
    // Wait for another token in the file; it is tried once the failed-login interval has passed.
    if (this.options.tokenFile === undefined) return;
    this.tokenPollTimer = setInterval(() => {
      const next = this.readToken();
      if (next === undefined || next === this.rejectedToken) return;
      clearInterval(this.tokenPollTimer);
      const wait = Math.max(0, (this.lastRejectionAt ?? 0) + this.authRetryMs - Date.now());
      this.options.logger.info(
        { retryInMs: wait },
        "the Home Assistant token file holds a new token; logging in with it",
      );
      this.setState("backoff");
      this.nextAttemptAt = Date.now() + wait;
      this.reconnectTimer = setTimeout(() => this.connect(), wait);
    }, TOKEN_FILE_POLL_MS);
  }

  private send(socket: WebSocket, message: Record<string, unknown>): void {
    socket.send(JSON.stringify(message));
  }

  /** Sends a command and resolves with its result (rejects on an error result or a closed connection). */
  private request(socket: WebSocket, message: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.requests.set(id, { resolve, reject });
      this.send(socket, { ...message, id });
    });
  }

  private subscribe(socket: WebSocket, eventType: string, kind: "state" | RegistryKind): Promise<unknown> {
    const id = this.nextId;
    this.subscriptions.set(id, kind);
    return this.request(socket, { type: "subscribe_events", event_type: eventType });
  }

  private onMessage(socket: WebSocket, text: string, fail: (failure: Failure) => void): void {
    if (this.state === "stopped" || socket !== this.socket) return;
    let message: Record<string, any>;
    try {
      message = JSON.parse(text);
    } catch {
      this.options.logger.warn("Home Assistant sent a message that is not JSON; ignored");
      return;
    }
    if (this.state === "subscribed") this.lastHeardUs = Date.now() * 1000;
    switch (message.type) {
      case "auth_required": {
        const token = this.presentedToken;
        if (token === undefined) {
          fail({ kind: "auth", message: `no token in the token file ${this.options.tokenFile}` });
          socket.close(4001);
          return;
        }
        this.send(socket, { type: "auth", access_token: token });
        return;
      }
      case "auth_ok":
        this.rejectedToken = undefined;
        this.rejections = 0;
        void this.synchronize(socket).catch((error: Error) => {
          if (socket !== this.socket) return;
          fail({ kind: "connection", message: `synchronizing with Home Assistant failed: ${error.message}` });
          socket.close(4002);
        });
        return;
      case "auth_invalid":
        fail({
          kind: "auth",
          message: `Home Assistant rejected the access token: ${String(message.message ?? "auth_invalid")}`,
        });
        socket.close(4001);
        return;
      case "result": {
        const pending = this.requests.get(message.id);
        if (pending === undefined) return;
        this.requests.delete(message.id);
        if (message.success) pending.resolve(message.result);
        else
          pending.reject(new Error(`${message.error?.code ?? "error"}: ${message.error?.message ?? "command failed"}`));
        return;
      }
      case "event": {
        const kind = this.subscriptions.get(message.id);
        if (kind === "state") this.onStateChanged(message.event?.data);
        else if (kind !== undefined) void this.refreshRegistry(socket, kind);
        return;
      }
      case "pong":
        this.awaitingPong = false;
        return;
    }
  }

  /** Steps 1–4 of the module comment; live events are held back until the snapshot is submitted. */
  private async synchronize(socket: WebSocket): Promise<void> {
    this.setState("synchronizing");
    this.heldBack = [];
    const subscribed = this.subscribe(socket, "state_changed", "state");
    const registryEvents = (Object.keys(REGISTRY_COMMANDS) as RegistryKind[]).map((kind) =>
      this.subscribe(socket, REGISTRY_COMMANDS[kind].updated, kind),
    );
    const config = this.request(socket, { type: "get_config" });
    const lists = (Object.keys(REGISTRY_COMMANDS) as RegistryKind[]).map(
      async (kind) => [kind, await this.request(socket, { type: REGISTRY_COMMANDS[kind].list })] as const,
    );
    const states = this.request(socket, { type: "get_states" });
    await subscribed;
    await Promise.all(registryEvents);
    const backfillFromUs = this.lastHeardUs;
    const subscribedAtUs = Date.now() * 1000;
    this.subscribedSince = new Date().toISOString();
    this.startHeartbeat(socket);

    const zone = ConfigSchema.parse(await config).time_zone;
    if (zone) this.options.onTimeZone?.(zone);
    for (const [kind, list] of await Promise.all(lists)) this.registries.replace(kind, list);
    const current = StatesSchema.parse(await states) as unknown as HaStateObject[];

    if (backfillFromUs !== undefined && current.length > 0) {
      await new Promise((resolve) =>
        setTimeout(resolve, (this.options.recorderCommitMs ?? 5000) + RECORDER_COMMIT_MARGIN_MS),
      );
      if (socket !== this.socket) return;
      // In windows of an hour, so a writer that was away for days neither asks Home Assistant for one
      // huge answer nor holds it all at once.
      const ids = current.map((state) => state.entity_id);
      const endUs = Date.now() * 1000;
      let count = 0;
      for (let fromUs = backfillFromUs - BACKFILL_OVERLAP_US; fromUs < endUs; fromUs += BACKFILL_WINDOW_US) {
        const history = await this.request(
          socket,
          historyRequest(ids, fromUs, Math.min(endUs, fromUs + BACKFILL_WINDOW_US)),
        );
        const events = historyEvents(history);
        count += events.length;
        for (const event of events) this.enqueue(event);
        this.flushPending();
        await Promise.allSettled([...this.inFlight]);
        if (socket !== this.socket) return;
      }
      this.backfilledEvents += count;
      this.options.logger.info(
        { events: count, since: new Date(backfillFromUs / 1000).toISOString() },
        "submitted the changes Home Assistant recorded while the writer was not subscribed",
      );
    }
    const wanted = this.options.snapshot
      ? current
      : current.filter((state) => state.entity_id === this.options.weatherEntity);
    const ordered = [...wanted].sort((a, b) => weatherFirst(a.entity_id, b.entity_id));
    for (const state of ordered) this.enqueue({ entity_id: state.entity_id, old_state: null, new_state: state });
    if (this.options.snapshot)
      this.options.logger.info({ states: current.length }, "submitted a snapshot of current Home Assistant states");

    if (socket !== this.socket) return;
    const held = this.heldBack ?? [];
    this.heldBack = undefined;
    for (const data of held) this.enqueue(data);
    this.lastHeardUs = subscribedAtUs;
    this.attempt = 0;
    this.outageSince = undefined;
    this.failure = undefined;
    this.loggedFailure = undefined;
    this.setState("subscribed");
    this.scheduleSave();
    this.options.logger.info({ url: websocketUrl(this.options.url) }, "subscribed to Home Assistant state changes");
  }

  private async refreshRegistry(socket: WebSocket, kind: RegistryKind): Promise<void> {
    try {
      this.registries.replace(kind, await this.request(socket, { type: REGISTRY_COMMANDS[kind].list }));
      this.scheduleSave();
    } catch (error) {
      this.options.logger.warn(
        { err: error, registry: kind },
        "could not reload a Home Assistant registry; the previous one stays in use",
      );
    }
  }

  private onStateChanged(data: object | undefined): void {
    if (!data) return;
    this.eventsReceived += 1;
    this.lastEventAt = new Date().toISOString();
    if (this.heldBack) this.heldBack.push(data);
    else this.enqueue(data);
  }

  /** Queues `state_changed` data with the registries' enrichment of its entity. */
  private enqueue(data: object): void {
    this.pending.push(this.enrich(data));
    if (this.pending.length >= MAX_EVENTS_PER_SUBMIT) this.flushPending();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushPending());
    }
  }

  private enrich(data: object): object {
    const record = data as { entity_id?: unknown; new_state?: unknown };
    const state = record.new_state as { entity_id?: unknown; attributes?: unknown } | null | undefined;
    if (state === null || typeof state !== "object") return data;
    const entityId = typeof record.entity_id === "string" ? record.entity_id : state.entity_id;
    if (typeof entityId !== "string") return data;
    const attributes =
      state.attributes !== null && typeof state.attributes === "object" && !Array.isArray(state.attributes)
        ? { ...(state.attributes as Record<string, unknown>) }
        : {};
    // The registries decide these keys, never an attribute of the same name.
    for (const key of ENRICHMENT_KEYS) delete attributes[key];
    Object.assign(attributes, this.registries.of(entityId));
    return { ...record, new_state: { ...state, attributes } };
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

  private loadState(): void {
    if (this.options.stateFile === undefined) return;
    let text: string;
    try {
      text = readFileSync(this.options.stateFile, "utf8");
    } catch {
      return;
    }
    const parsed = StateFileSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      this.options.logger.warn(
        { file: this.options.stateFile },
        "the Home Assistant state file is unreadable; starting without it (no backfill of the time before this start)",
      );
      return;
    }
    this.lastHeardUs = parsed.data.lastHeardUs;
    if (parsed.data.registries) this.registries.restore(parsed.data.registries);
  }

  private scheduleSave(): void {
    if (this.options.stateFile === undefined || this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.saveState();
    }, STATE_SAVE_INTERVAL_MS);
    this.saveTimer.unref();
  }

  /** Saves one after the other, so two writes never race for the temporary file. */
  private saveState(): Promise<void> {
    this.saving = this.saving.then(() => this.writeState());
    return this.saving;
  }

  private async writeState(): Promise<void> {
    const file = this.options.stateFile;
    if (file === undefined) return;
    const state: StateFile = { version: 1 };
    if (this.lastHeardUs !== undefined) state.lastHeardUs = this.lastHeardUs;
    if (this.registries.isLoaded) state.registries = this.registries.snapshot();
    try {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(`${file}.tmp`, JSON.stringify(state));
      await rename(`${file}.tmp`, file);
    } catch (error) {
      this.options.logger.warn({ err: error, file }, "could not save the Home Assistant state file");
    }
    // While subscribed, `lastHeardUs` keeps moving: keep the file close behind it.
    if (this.state === "subscribed") this.scheduleSave();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
