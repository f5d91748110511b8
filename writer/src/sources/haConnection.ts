/**
 * One WebSocket connection to Home Assistant: the login with the access token, commands and their
 * results, event subscriptions and the heartbeat. What to do when it ends is the source's business
 * (`haReconnect.ts`); this module only says why it ended.
 *
 * Protocol: https://developers.home-assistant.io/docs/api/websocket
 */
import WebSocket from "ws";
import type { Logger } from "../logger";
import type { RegistryKind } from "./haRegistries";

/** Why a connection ended, for the reconnect log line and `/status`. */
export type Failure = { kind: "auth"; message: string } | { kind: "connection"; message: string };

/** What a subscription delivers: state changes, or the update events of one registry. */
export type SubscriptionKind = "state" | RegistryKind;

/** Converts `http(s)://host:port` into Home Assistant's WebSocket endpoint; leaves ws(s) URLs alone. */
export function websocketUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol === "http:" || parsed.protocol === "https:") {
    parsed.protocol = parsed.protocol === "https:" ? "wss:" : "ws:";
    if (parsed.pathname === "/" || parsed.pathname === "") parsed.pathname = "/api/websocket";
  }
  return parsed.toString();
}

/** Settings and callbacks of one connection. */
export interface ConnectionOptions {
  /** Home Assistant's base or WebSocket URL. */
  url: string;
  /** The token to log in with; none: the token file was empty, and the login fails without trying. */
  token: string | undefined;
  /** The token file, named in the failure when it held no token. */
  tokenFile?: string;
  /** The ping interval, and the time allowed for the socket handshake and for the subscription. */
  heartbeatMs: number;
  logger: Logger;
  /** The socket is open; the login follows. */
  onOpen: () => void;
  /** Home Assistant accepted the token. */
  onAuthenticated: () => void;
  /** Any message from Home Assistant, before it is handled. */
  onMessage: () => void;
  /** An event of one of the subscriptions. */
  onEvent: (kind: SubscriptionKind, data: object | undefined) => void;
  /** A heartbeat went unanswered; the connection is dropped. */
  onMissedPong: () => void;
  /** The connection ended (not after `abandon`). */
  onClose: (code: number, failure: Failure) => void;
}

type Pending = { resolve: (result: unknown) => void; reject: (error: Error) => void };

/** A connection; it connects when constructed. */
/** The fields of a Home Assistant WebSocket message that this client reads; any of them may be missing. */
interface WireMessage {
  type?: unknown;
  id?: unknown;
  success?: unknown;
  result?: unknown;
  message?: unknown;
  error?: { code?: unknown; message?: unknown } | null;
  event?: { data?: unknown } | null;
}

export class HaConnection {
  private readonly socket: WebSocket;
  private live = true;
  private failure: Failure | undefined;
  private nextId = 1;
  private readonly requests = new Map<number, Pending>();
  private readonly subscriptions = new Map<number, SubscriptionKind>();
  /** First the handshake timeout, then the heartbeat interval. */
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private awaitingPong = false;

  constructor(private readonly options: ConnectionOptions) {
    const socket = new WebSocket(websocketUrl(options.url), { handshakeTimeout: options.heartbeatMs });
    this.socket = socket;
    this.heartbeatTimer = setTimeout(() => {
      this.fail({ kind: "connection", message: "no subscription within the handshake timeout" });
      socket.terminate();
    }, options.heartbeatMs);
    socket.on("unexpected-response", (_request, response) => {
      const code = response.statusCode ?? 0;
      this.fail(
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
    socket.on("open", () => options.onOpen());
    socket.on("message", (data) => this.onMessage(data.toString()));
    socket.on("error", (error) => this.fail({ kind: "connection", message: error.message }));
    socket.on("close", (code) => this.onClose(code));
  }

  /** Until the connection closed or was abandoned. */
  get isLive(): boolean {
    return this.live;
  }

  /** Remembers why the connection is ending; the first reason wins. */
  fail(failure: Failure): void {
    this.failure ??= failure;
  }

  close(code: number): void {
    this.socket.close(code);
  }

  /** Closes the connection without reporting anything more from it (the source is stopping). */
  abandon(): void {
    this.live = false;
    clearInterval(this.heartbeatTimer);
    this.socket.close(1000);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Sends a command and resolves with its result (rejects on an error result or a closed connection). */
  request(message: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.requests.set(id, { resolve, reject });
      this.send({ ...message, id });
    });
  }

  /** Subscribes to `eventType`; its events reach `onEvent` as `kind`. */
  subscribe(eventType: string, kind: SubscriptionKind): Promise<unknown> {
    this.subscriptions.set(this.nextId, kind);
    return this.request({ type: "subscribe_events", event_type: eventType });
  }

  /** The subscription is done: ends the handshake timeout and pings from now on. */
  startHeartbeat(): void {
    if (!this.live) return;
    clearTimeout(this.heartbeatTimer);
    this.awaitingPong = false;
    this.heartbeatTimer = setInterval(() => {
      if (this.awaitingPong) {
        this.options.onMissedPong();
        this.socket.terminate();
        return;
      }
      this.awaitingPong = true;
      this.send({ id: this.nextId++, type: "ping" });
    }, this.options.heartbeatMs);
  }

  private send(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  private onMessage(text: string): void {
    if (!this.live) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.options.logger.warn("Home Assistant sent a message that is not JSON; ignored");
      return;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      this.options.logger.warn("Home Assistant sent a message that is not a JSON object; ignored");
      return;
    }
    const message = parsed as WireMessage;
    const id = typeof message.id === "number" ? message.id : undefined;
    this.options.onMessage();
    switch (message.type) {
      case "auth_required": {
        const token = this.options.token;
        if (token === undefined) {
          this.fail({ kind: "auth", message: `no token in the token file ${this.options.tokenFile}` });
          this.socket.close(4001);
          return;
        }
        this.send({ type: "auth", access_token: token });
        return;
      }
      case "auth_ok":
        this.options.onAuthenticated();
        return;
      case "auth_invalid":
        this.fail({
          kind: "auth",
          message: `Home Assistant rejected the access token: ${String(message.message ?? "auth_invalid")}`,
        });
        this.socket.close(4001);
        return;
      case "result": {
        const pending = id === undefined ? undefined : this.requests.get(id);
        if (pending === undefined || id === undefined) return;
        this.requests.delete(id);
        if (message.success === true) pending.resolve(message.result);
        else
          pending.reject(new Error(`${message.error?.code ?? "error"}: ${message.error?.message ?? "command failed"}`));
        return;
      }
      case "event": {
        const kind = id === undefined ? undefined : this.subscriptions.get(id);
        const data = message.event?.data;
        if (kind !== undefined)
          this.options.onEvent(kind, typeof data === "object" && data !== null ? data : undefined);
        return;
      }
      case "pong":
        this.awaitingPong = false;
        return;
    }
  }

  private onClose(code: number): void {
    if (!this.live) return;
    this.live = false;
    clearInterval(this.heartbeatTimer);
    for (const pending of this.requests.values()) pending.reject(new Error("connection closed"));
    this.requests.clear();
    this.subscriptions.clear();
    this.options.onClose(code, this.failure ?? { kind: "connection", message: `connection closed (code ${code})` });
  }
}
