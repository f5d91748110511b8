/**
 * Home Assistant WebSocket source: logs in with a long-lived token, subscribes to state changes and
 * submits every change once, in order, across reconnects and restarts of either side. Its parts, each
 * one job, are wired here:
 * - `haConnection.ts`: one WebSocket connection (login, commands, subscriptions, heartbeat);
 * - `haReconnect.ts`: when to try again (the reconnect schedule, and the rules for a rejected token
 *   that keep Home Assistant from banning the host);
 * - `haSession.ts`: the order after a login (subscribe → registries and states → backfill → snapshot
 *   → live events) and registry updates;
 * - `haSubmitter.ts`: enrichment from the registries, batches to the sink, backpressure;
 * - `haStateFile.ts`: what is kept across restarts of the writer;
 * - `haStatus.ts`: what `/status` and `/readyz` say.
 *
 * Protocol: https://developers.home-assistant.io/docs/api/websocket
 */
import type { ComponentStatus } from "../componentStatus";
import type { Logger } from "../logger";
import { type Failure, HaConnection, websocketUrl } from "./haConnection";
import { DEFAULT_AUTH_RETRY_MS, DEFAULT_RECONNECT, Reconnector, type ReconnectPolicy } from "./haReconnect";
import { Registries } from "./haRegistries";
import { Session } from "./haSession";
import { StateFile } from "./haStateFile";
import { type ConnectionState, sourceStatus } from "./haStatus";
import { Submitter } from "./haSubmitter";
import { type EventSink, HOME_ASSISTANT_SOURCE } from "./sink";

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

/** The Home Assistant WebSocket client. `start()` returns at once; connection happens in the background. */
export class HomeAssistantSource {
  private connection: HaConnection | undefined;
  private state: ConnectionState = "idle";
  /** The token presented on the current connection. */
  private presentedToken: string | undefined;
  private failure: Failure | undefined;
  private lastError: string | undefined;
  private lastErrorAt: string | undefined;
  private lastEventAt: string | undefined;
  private eventsReceived = 0;
  private reconnects = 0;
  private readonly registries = new Registries();
  private readonly reconnector: Reconnector;
  private readonly submitter: Submitter;
  private readonly session: Session;
  private readonly stateFile: StateFile;
  private readonly authRetryMs: number;
  private readonly heartbeatMs: number;

  constructor(private readonly options: HomeAssistantSourceOptions) {
    if (options.token === undefined && options.tokenFile === undefined)
      throw new Error("Home Assistant source: a token or a token file is required");
    const { logger } = options;
    this.authRetryMs = options.authRetryMs ?? DEFAULT_AUTH_RETRY_MS;
    this.heartbeatMs = options.heartbeatIntervalMs ?? 30_000;
    this.reconnector = new Reconnector({
      reconnect: options.reconnect ?? DEFAULT_RECONNECT,
      authRetryMs: this.authRetryMs,
      token: options.token,
      tokenFile: options.tokenFile,
      logger,
      setState: (state) => this.setState(state),
      connect: () => this.connect(),
    });
    this.submitter = new Submitter({
      sink: options.sink,
      source: HOME_ASSISTANT_SOURCE,
      registries: this.registries,
      logger,
      pause: () => this.connection?.pause(),
      resume: () => this.connection?.resume(),
    });
    this.session = new Session({
      snapshot: options.snapshot,
      weatherEntity: options.weatherEntity,
      recorderCommitMs: options.recorderCommitMs,
      onTimeZone: options.onTimeZone,
      logger,
      registries: this.registries,
      submitter: this.submitter,
      registriesChanged: () => this.stateFile.schedule(),
    });
    this.stateFile = new StateFile({
      file: options.stateFile,
      logger,
      current: () => ({
        lastHeardUs: this.session.lastHeardUs,
        registries: this.registries.isLoaded ? this.registries.snapshot() : undefined,
      }),
      keepSaving: () => this.state === "subscribed",
    });
    const saved = this.stateFile.load();
    if (saved !== undefined) {
      this.session.lastHeardUs = saved.lastHeardUs;
      if (saved.registries) this.registries.restore(saved.registries);
    }
  }

  /** Begins connecting; never throws for connection problems (they are retried and reported in status). */
  start(): void {
    if (this.state !== "idle") return;
    this.connect();
  }

  /** Closes the connection, waits until every event already received is durable, and saves the state file. */
  async stop(): Promise<void> {
    this.setState("stopped");
    this.reconnector.stop();
    this.connection?.abandon();
    this.connection = undefined;
    this.session.ended();
    this.submitter.flush();
    await this.submitter.settled();
    await this.stateFile.flush();
  }

  /** Health as `/status` reports it: healthy while subscribed to `state_changed`. */
  status(): ComponentStatus {
    return sourceStatus({
      state: this.state,
      failure: this.failure,
      subscribedSince: this.session.subscribedSince,
      nextAttemptAt: this.reconnector.nextAttemptAt,
      rejections: this.reconnector.rejections.count,
      tokenFile: Boolean(this.options.tokenFile),
      authRetryMs: this.authRetryMs,
      eventsReceived: this.eventsReceived,
      backfilledEvents: this.session.backfilledEvents,
      reconnects: this.reconnects,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      lastEventAt: this.lastEventAt,
    });
  }

  /** Set when Home Assistant rejects the token: the reason, for `/readyz`. */
  authProblem(): string | undefined {
    const status = this.status();
    return status.details?.authRejected ? status.message : undefined;
  }

  private recordError(message: string): void {
    this.lastError = message;
    this.lastErrorAt = new Date().toISOString();
  }

  private setState(state: ConnectionState): void {
    this.state = state;
  }

  private connect(): void {
    if (this.state === "stopped") return;
    this.reconnector.connecting();
    this.presentedToken = this.reconnector.readToken();
    this.setState("connecting");
    const connection: HaConnection = new HaConnection({
      url: this.options.url,
      token: this.presentedToken,
      tokenFile: this.options.tokenFile,
      heartbeatMs: this.heartbeatMs,
      logger: this.options.logger,
      onOpen: () => this.setState("authenticating"),
      onAuthenticated: () => this.onAuthenticated(connection),
      onMessage: () => {
        if (this.state === "subscribed") this.session.lastHeardUs = Date.now() * 1000;
      },
      onEvent: (kind, data) => {
        if (kind === "state") this.onStateChanged(data);
        else void this.session.onRegistryUpdated(connection, kind);
      },
      onMissedPong: () => this.recordError("no pong from Home Assistant"),
      onClose: (code, failure) => this.onClose(code, failure),
    });
    this.connection = connection;
  }

  private onAuthenticated(connection: HaConnection): void {
    this.reconnector.rejections.accepted();
    void this.synchronize(connection).catch((error: Error) => {
      if (!connection.isLive) return;
      connection.fail({ kind: "connection", message: `synchronizing with Home Assistant failed: ${error.message}` });
      connection.close(4002);
    });
  }

  private async synchronize(connection: HaConnection): Promise<void> {
    this.setState("synchronizing");
    if (!(await this.session.synchronize(connection))) return;
    this.reconnector.subscribed();
    this.failure = undefined;
    this.setState("subscribed");
    this.stateFile.schedule();
    this.options.logger.info({ url: websocketUrl(this.options.url) }, "subscribed to Home Assistant state changes");
  }

  private onStateChanged(data: object | undefined): void {
    if (!data) return;
    this.eventsReceived += 1;
    this.lastEventAt = new Date().toISOString();
    this.session.onStateChanged(data);
  }

  private onClose(code: number, failure: Failure): void {
    this.connection = undefined;
    const wasSubscribed = this.session.ended();
    this.submitter.flush();
    if (this.state === "stopped") return;
    this.failure = failure;
    this.recordError(failure.message);
    if (wasSubscribed) {
      this.reconnects += 1;
      this.stateFile.schedule();
    }
    this.reconnector.lost(code, failure, wasSubscribed, this.presentedToken);
  }
}
